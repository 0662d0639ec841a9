/**
 * import(), for code that may run inside the CLI's CommonJS bundle (dist/bundle/main.cjs).
 *
 * That bundle is compiled with V8's code cache (lib/cli/code-cache.ts), and in Node 20 a script
 * compiled from a cache has lost its import() callback: an import() written in it throws "A
 * dynamic import callback was not specified" on every run but the one that made the cache. So
 * the bundle is given an import() made outside it, as the parameter `uetImport` of the function
 * it is wrapped in. Anywhere else (dist/lib, the no-op fast path's bundle) there is none, and
 * this is import() itself.
 */
declare const uetImport: ((specifier: string) => Promise<unknown>) | undefined;

export function importModule<T>(specifier: string): Promise<T> {
  return (typeof uetImport === 'function' ? uetImport(specifier) : import(specifier)) as Promise<T>;
}

/**
 * One of Node's own modules, loaded when first needed. Not through import(): a process's first
 * import() starts Node's ES module loader (ten modules of its own, ~2.5 ms here), which a run of
 * the CommonJS bundles otherwise never loads; nor through createRequire, whose node:module
 * loads part of it (~0.3 ms).
 */
export function loadBuiltin<T>(name: `node:${string}`): T {
  return process.getBuiltinModule(name) as T;
}
