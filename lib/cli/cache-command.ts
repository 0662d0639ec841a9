/**
 * `uet cache stats|prune|verify|clear`: the local cache (and the shared one's figures).
 * Every subcommand but stats holds the project lock, so it never races a build's stores.
 */
import path from 'node:path';
import { pruneProjectCache } from '../cache/open.js';
import { dropBrokenEntries } from '../cache/lru.js';
import { openCacheStore, parseStoredEntry, verifyStore } from '../cache/store.js';
import { acquireProjectLock } from '../events/lock.js';
import { readRun } from '../events/run-log.js';
import type { RunEvent } from '../events/types.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_OK, openProject, specFailed } from './context.js';

export type CacheAction = 'stats' | 'prune' | 'verify' | 'clear';

export async function cacheCommand(io: Io, action: CacheAction, opts: { dir?: string; json?: boolean }): Promise<number> {
  const opened = await openProject(io, opts.dir);
  if (!opened.ok) return specFailed(io, opened.error);
  const { root, uetDir, hasher, loaded } = opened.value;
  await hasher.flush();
  const config = loaded.project.spec.config;
  const dir = path.join(root, config.cache.dir);

  if (action === 'stats') return stats(io, uetDir, opts.json === true);

  const lock = await acquireProjectLock(uetDir, { onWait: (h) => io.stderr.write(`waiting for the project lock: held by pid ${h.pid} (${h.command})\n`) });
  if (!lock.ok) {
    io.stderr.write(`error: could not lock the project: ${lock.error}\n`);
    return EXIT_FAILED;
  }
  try {
    switch (action) {
      case 'prune': {
        const pruned = await pruneProjectCache(root, config, new Set(), Date.now());
        if (!pruned.ok) return failed(io, 'prune', pruned.error.detail);
        const p = pruned.value;
        io.stdout.write(`removed ${p.entriesRemoved} entr${p.entriesRemoved === 1 ? 'y' : 'ies'} and ${p.blobsRemoved} blob${p.blobsRemoved === 1 ? '' : 's'} (${mb(p.bytesRemoved)}); kept ${p.entriesKept} (${mb(p.bytesKept)})\n`);
        return EXIT_OK;
      }
      case 'verify': {
        const bad = await verifyStore(dir);
        if (!bad.ok) return failed(io, 'verify', bad.error.detail);
        const broken = await dropBrokenEntries(dir, parseStoredEntry);
        if (!broken.ok) return failed(io, 'verify', broken.error.detail);
        io.stdout.write(`re-hashed the cache: ${bad.value} corrupt blob${bad.value === 1 ? '' : 's'} removed, ${broken.value} entr${broken.value === 1 ? 'y' : 'ies'} that needed them removed\n`);
        return EXIT_OK;
      }
      case 'clear': {
        const store = await openCacheStore(dir);
        try {
          await store.clear();
        } catch (e) {
          return failed(io, 'clear', e instanceof Error ? e.message : String(e));
        }
        io.stdout.write(`cleared the local cache at ${config.cache.dir}/ (a shared cache is never cleared by uet)\n`);
        return EXIT_OK;
      }
    }
  } finally {
    lock.value.release();
  }
}

async function stats(io: Io, uetDir: string, json: boolean): Promise<number> {
  const events = await readRun(uetDir, 'last');
  const found = events.ok ? events.value.find((e): e is Extract<RunEvent, { type: 'cache-stats' }> => e.type === 'cache-stats') : undefined;
  if (!found) {
    io.stdout.write(json ? 'null\n' : 'the last run recorded no cache figures (no run yet, a dry run, --no-cache, or it was killed)\n');
    return EXIT_OK;
  }
  if (json) {
    io.stdout.write(`${JSON.stringify(found)}\n`);
    return EXIT_OK;
  }
  io.stdout.write(`run ${found.runId}\n`);
  io.stdout.write(`local:  ${found.local.hits} hit${found.local.hits === 1 ? '' : 's'}, ${found.local.misses} miss${found.local.misses === 1 ? '' : 'es'}\n`);
  const r = found.remote;
  if (r) {
    io.stdout.write(`remote: ${r.hits} hit${r.hits === 1 ? '' : 's'}, ${r.misses} miss${r.misses === 1 ? '' : 'es'}, ${r.stored} stored, ${r.errors} error${r.errors === 1 ? '' : 's'} (${r.url})\n`);
  } else {
    io.stdout.write('remote: none configured\n');
  }
  if (found.pruned) io.stdout.write(`pruned: ${found.pruned.entries} entr${found.pruned.entries === 1 ? 'y' : 'ies'} (${mb(found.pruned.bytes)}); ${mb(found.pruned.keptBytes)} kept\n`);
  return EXIT_OK;
}

function failed(io: Io, what: string, detail: string): number {
  io.stderr.write(`error: cache ${what} failed: ${detail}\n`);
  return EXIT_FAILED;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
