/**
 * The cache a command works with, from the project's config and the environment: the local
 * store, with the shared one behind it when `cache.remote.url` or UET_REMOTE_CACHE names one.
 */
import * as path from 'node:path';
import type { ConfigSpec, RemoteCacheSpec } from '../spec/model.js';
import { CONFIG_DEFAULTS } from '../spec/defaults.js';
import { err, ok, type Result } from '../util/result.js';
import { DEFAULT_MAX_SIZE, prune, type PruneReport } from './lru.js';
import { openCacheStore, parseStoredEntry } from './store.js';
import { TieredCacheStore } from './tiered.js';
import type { CacheFailure } from './types.js';
import type { LocalStore } from './store.js';
import { pruneDue, readUsage, writeUsage } from './usage.js';

export const REMOTE_CACHE_ENV = 'UET_REMOTE_CACHE';

/**
 * UET_REMOTE_CACHE wins over the file's url (a CI machine points at its fleet's server
 * without editing the project); read/write/timeout still come from the file.
 * An empty variable means "no shared cache".
 */
export function resolveRemote(spec: RemoteCacheSpec | undefined, env: Readonly<Record<string, string | undefined>>): Result<RemoteCacheSpec | undefined, string> {
  const fromEnv = env[REMOTE_CACHE_ENV];
  const url = fromEnv !== undefined ? fromEnv.trim() : spec?.url ?? '';
  if (url === '') return ok(undefined);
  if (!/^rediss?:\/\/[^/]/.test(url)) return err(`${fromEnv !== undefined ? REMOTE_CACHE_ENV : 'cache.remote.url'} must be a redis:// or rediss:// URL, not '${url}'`);
  return ok({
    url,
    read: spec?.read ?? CONFIG_DEFAULTS.remote.read,
    write: spec?.write ?? CONFIG_DEFAULTS.remote.write,
    timeout: spec?.timeout ?? CONFIG_DEFAULTS.remote.timeout,
  });
}

export async function openProjectCache(
  root: string,
  config: ConfigSpec,
  env: Readonly<Record<string, string | undefined>>,
  opts: { readonly dryRun: boolean; readonly warn: (message: string) => void },
): Promise<TieredCacheStore> {
  const local = await openCacheStore(path.join(root, config.cache.dir));
  const remoteSpec = resolveRemote(config.cache.remote, env);
  if (!remoteSpec.ok) opts.warn(`${remoteSpec.error}; building without a shared cache`);
  const remote = remoteSpec.ok && remoteSpec.value ? remoteSpec.value : undefined;
  // the Redis client (~130 ms of modules) is loaded only when a shared cache is configured
  const remoteStore = remote ? (await import('./remote.js')).openRemoteStore({ url: remote.url, timeout: remote.timeout }) : undefined;
  return new TieredCacheStore(local, remoteStore, {
    read: remote?.read ?? false,
    // a dry run changes nothing, not even the shared cache
    write: (remote?.write ?? false) && !opts.dryRun,
    fetchBlobs: !opts.dryRun,
    warn: opts.warn,
  });
}

function limitsOf(config: ConfigSpec): { maxSize: number; maxAge?: number } {
  return { maxSize: config.cache.maxSize ?? DEFAULT_MAX_SIZE, ...(config.cache.maxAge !== undefined ? { maxAge: config.cache.maxAge } : {}) };
}

/** least-recently-used pruning to the config's limits (max_size defaults to 5 GB); the size estimate restarts from its count */
export async function pruneProjectCache(root: string, config: ConfigSpec, protect: ReadonlySet<string>, now: number): Promise<Result<PruneReport, CacheFailure>> {
  const dir = path.join(root, config.cache.dir);
  const pruned = await prune(dir, { ...limitsOf(config), protect, now }, parseStoredEntry);
  if (pruned.ok) writeUsage(dir, { bytes: pruned.value.bytesKept, prunedAt: now });
  return pruned;
}

/**
 * After a build that stored or restored: prune when due (lib/cache/usage.ts), else add what it
 * stored to the size estimate. undefined when no prune ran.
 */
export async function maintainProjectCache(root: string, config: ConfigSpec, local: LocalStore, now: number): Promise<Result<PruneReport, CacheFailure> | undefined> {
  const dir = path.join(root, config.cache.dir);
  // A cache this build started (a first build, a CI machine) has only what it added: listing
  // its 10,000 entries just to count them took 1.2 s and 30 MB at the end of a cold build.
  const usage = readUsage(dir) ?? (local.startedEmpty ? { bytes: 0, prunedAt: now } : undefined);
  const added = local.addedBytes();
  if (pruneDue(usage, added, limitsOf(config), now)) return pruneProjectCache(root, config, local.touched(), now);
  if (added > 0 && usage) writeUsage(dir, { bytes: usage.bytes + added, prunedAt: usage.prunedAt });
  return undefined;
}
