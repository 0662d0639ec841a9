/**
 * A CacheStore that loads the real one (cacache, keyv: ~50 ms of module loading) on first use.
 * Most builds that find everything fresh never touch the cache, so they never pay for it.
 */
import type { CacheStore } from './types.js';

export function openLazyCacheStore(dir: string): CacheStore {
  let store: Promise<CacheStore> | undefined;
  const real = (): Promise<CacheStore> => (store ??= import('./store.js').then((m) => m.openCacheStore(dir)));
  return {
    get: async (key) => (await real()).get(key),
    put: async (key, taskId, root, outputs, log) => (await real()).put(key, taskId, root, outputs, log),
    restore: async (entry, root) => (await real()).restore(entry, root),
    readLog: async (entry) => (await real()).readLog(entry),
    delete: async (key) => (await real()).delete(key),
    clear: async () => (await real()).clear(),
  };
}
