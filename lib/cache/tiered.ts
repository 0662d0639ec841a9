/**
 * The local store with the shared (Redis) one behind it, as one CacheStore: the runner does
 * not know a shared cache exists.
 *
 *   get:  local hit -> done
 *         local miss -> remote entry -> every blob downloaded to a staging folder and
 *         re-hashed -> stored into the local store (which checks each hash again) -> the
 *         local entry is returned; restore then works from the local store as always
 *   put:  local store first (its result is the put's result), then every blob the server
 *         lacks, then the entry (last, so nobody sees an entry before its blobs)
 *
 * The shared cache can only cost time, never correctness or a failed build:
 *
 *   healthy --request fails to connect / times out--> broken (no more requests this run)
 *   healthy --answer is not what uet stored--------->  healthy (that entry is a miss)
 *   either failure: the FIRST one of the run prints one warning; later ones are only counted.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { err, ok, type Result } from '../util/result.js';
import type { RemoteFailure, RemoteStore } from './remote.js';
import type { LocalStore } from './store.js';
import type { CacheEntry, CacheFailure, CacheStore, OutputFile } from './types.js';
import { blobHashes, keptInEntry } from './types.js';

export interface CacheStats {
  readonly local: { readonly hits: number; readonly misses: number };
  readonly remote?: {
    readonly url: string;
    readonly hits: number;
    readonly misses: number;
    readonly stored: number;
    readonly errors: number;
  };
}

export interface TieredOptions {
  readonly read: boolean;
  readonly write: boolean;
  /** false in a dry run: a remote entry is reported, nothing is downloaded */
  readonly fetchBlobs: boolean;
  /** called once per run, for the first problem with the shared cache */
  readonly warn: (message: string) => void;
}

export class TieredCacheStore implements CacheStore {
  private broken = false;
  private warned = false;
  private localHits = 0;
  private localMisses = 0;
  private remoteHits = 0;
  private remoteMisses = 0;
  private remoteStored = 0;
  private remoteErrors = 0;

  constructor(
    readonly local: LocalStore,
    private readonly remote: RemoteStore | undefined,
    private readonly opts: TieredOptions,
  ) {}

  async get(key: string): Promise<CacheEntry | undefined> {
    const hit = await this.local.get(key);
    if (hit) {
      this.localHits++;
      return hit;
    }
    this.localMisses++;
    if (!this.remote || !this.opts.read || this.broken) return undefined;
    const found = await this.remote.getEntry(key);
    if (!found.ok) return this.failed(found.error);
    if (!found.value) {
      this.remoteMisses++;
      return undefined;
    }
    if (!this.opts.fetchBlobs) {
      this.remoteHits++;
      return found.value;
    }
    const imported = await this.importEntry(this.remote, found.value);
    if (!imported.ok) return this.failed(imported.error);
    this.remoteHits++;
    return imported.value;
  }

  async put(key: string, taskId: string, root: string, outputs: readonly OutputFile[], log: string): Promise<Result<CacheEntry, CacheFailure>> {
    const stored = await this.local.put(key, taskId, root, outputs, log);
    if (!stored.ok || !this.remote || !this.opts.write || this.broken) return stored;
    const shared = await this.share(this.remote, stored.value);
    if (shared.ok) this.remoteStored++;
    else this.failed(shared.error);
    return stored;
  }

  restore(entry: CacheEntry, root: string): Promise<Result<void, CacheFailure>> {
    return this.local.restore(entry, root);
  }

  readLog(entry: CacheEntry): Promise<string | undefined> {
    return this.local.readLog(entry);
  }

  /** the runner deletes what failed to restore: only the local copy (the shared one was checked on import) */
  delete(key: string): Promise<void> {
    return this.local.delete(key);
  }

  clear(): Promise<void> {
    return this.local.clear();
  }

  stats(): CacheStats {
    return {
      local: { hits: this.localHits, misses: this.localMisses },
      ...(this.remote
        ? { remote: { url: redact(this.remote.url), hits: this.remoteHits, misses: this.remoteMisses, stored: this.remoteStored, errors: this.remoteErrors } }
        : {}),
    };
  }

  async close(): Promise<void> {
    await this.local.close();
    await this.remote?.close();
  }

  private failed(f: RemoteFailure): undefined {
    this.remoteErrors++;
    if (f.reason === 'unreachable' && !this.broken) {
      this.broken = true;
      void this.remote?.close();
    }
    if (!this.warned) {
      this.warned = true;
      const what = f.reason === 'unreachable' ? 'is unreachable' : 'answered with data uet did not store';
      this.opts.warn(`shared cache at ${redact(this.remote?.url ?? '')} ${what} (${f.detail}); building without it${f.reason === 'unreachable' ? ' for the rest of this run' : ''}`);
    }
    return undefined;
  }

  /** downloads and checks every blob, then stores the whole entry locally; nothing partial is kept */
  private async importEntry(remote: RemoteStore, entry: CacheEntry): Promise<Result<CacheEntry, RemoteFailure>> {
    let staging: string | undefined;
    try {
      staging = await fsp.mkdtemp(path.join(os.tmpdir(), 'uet-remote-'));
      const outDir = path.join(staging, 'out');
      for (const o of entry.outputs) {
        const dest = path.join(outDir, o.path);
        await fsp.mkdir(path.dirname(dest), { recursive: true });
        // bytes kept in the entry have no blob; the local put checks them against their hash
        const got = await fetchBlob(remote, entry, o.hash, o.size, dest);
        if (!got.ok) return got;
      }
      const logFile = path.join(staging, 'log');
      const gotLog = await fetchBlob(remote, entry, entry.logHash, undefined, logFile);
      if (!gotLog.ok) return gotLog;
      // the local put checks the log's hash, like every output's
      const log = await fsp.readFile(logFile, 'utf8');
      const stored = await this.local.put(entry.key, entry.taskId, outDir, entry.outputs, log);
      if (!stored.ok) return err({ reason: 'garbage', detail: `could not keep the shared entry locally: ${stored.error.detail}` });
      return ok(stored.value);
    } catch (e) {
      return err({ reason: 'garbage', detail: e instanceof Error ? e.message : String(e) });
    } finally {
      if (staging) await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async share(remote: RemoteStore, entry: CacheEntry): Promise<Result<void, RemoteFailure>> {
    const sizes = new Map(entry.outputs.map((o) => [o.hash, o.size]));
    const blobs = blobHashes(entry);
    if (blobs.includes(entry.logHash) && !sizes.has(entry.logHash)) sizes.set(entry.logHash, Buffer.byteLength((await this.local.readLog(entry)) ?? '', 'utf8'));
    for (const hash of blobs) {
      const size = sizes.get(hash) ?? 0;
      const has = await remote.hasBlob(hash);
      if (!has.ok) return has;
      if (has.value) continue;
      try {
        const up = await remote.uploadBlob(hash, size, await this.local.openBlob(hash, size));
        if (!up.ok) return up;
      } catch (e) {
        // the local copy failed its own check while being read: share nothing of this entry
        return err({ reason: 'garbage', detail: `local blob ${hash.slice(0, 12)}: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    return remote.putEntry(entry);
  }
}

/** content an entry names, into `dest`: from the entry itself when it keeps it, else from the shared cache */
async function fetchBlob(remote: RemoteStore, entry: CacheEntry, hash: string, size: number | undefined, dest: string): Promise<Result<void, RemoteFailure>> {
  const kept = keptInEntry(entry, hash);
  if (kept === undefined) return remote.downloadBlob(hash, size, dest);
  await fsp.writeFile(dest, Buffer.from(kept, 'base64'));
  return ok(undefined);
}

/** never print a password from the URL */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
