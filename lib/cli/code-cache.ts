/**
 * Loads a CommonJS file with V8's code cache: the CLI's bundle (dist/bundle/main.cjs, see
 * scripts/bundle.mjs), which every command but a no-op loads. Node 20 has no compile cache of
 * its own (module.enableCompileCache is Node 22's), and loading the bundle as ES modules cost
 * ~55 ms a run on a 2-core machine: ~35 chunks each resolved, read, compiled and linked.
 *
 * The cache file holds the SHA-256 of the source it was made from, then V8's data. V8 checks
 * its own version and flags, but of the source only its length: a bundle rebuilt to the same
 * length would run the old one's code. So a cache whose digest differs is not given to V8.
 *
 * When there was no cache, or V8 refused it (another Node, other V8 flags), a new one is made
 * from what the load compiled and written in place of the old (temporary file, then rename),
 * right after the module's top level ran. V8 checks the flags a cache was made under, and a
 * flag set from a script counts: so every load must start under the same ones, and the module's
 * top level sets none (lib/cli/load-cli.ts sets its one before loading). A cache that cannot be
 * written (a read-only install) only costs the next run its compile.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import { readTextFile } from '../util/read-text.js';

/** what happened to the cache, for tests and the curious */
export type CodeCacheUse =
  /** V8 took it: nothing was compiled but what the cache lacked */
  | 'used'
  /** there was none: one was made */
  | 'made'
  /** it was for another source, or V8 refused it: a new one was made */
  | 'replaced'
  /** none could be used and none could be written */
  | 'unwritable';

export interface LoadedModule<T> {
  readonly exports: T;
  readonly cache: CodeCacheUse;
}

const DIGEST_BYTES = 32;
/** CommonJS's wrapper, and `uetImport`: see lib/util/import-module.ts */
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname, uetImport) { ';
const WRAPPER_TAIL = '\n})';

/** `file`'s module.exports, compiled with the cache in `cacheFile` when it is that source's. */
export function loadWithCodeCache<T>(file: string, cacheFile: string): LoadedModule<T> {
  const source = readTextFile(file);
  const digest = createHash('sha256').update(source).digest();
  const stored = readQuiet(cacheFile);
  const cachedData = stored && stored.length > DIGEST_BYTES && digest.equals(stored.subarray(0, DIGEST_BYTES)) ? stored.subarray(DIGEST_BYTES) : undefined;
  // No importModuleDynamically: what it gives is lost when V8 takes the cache (hence uetImport),
  // and it warns that it is experimental.
  const script = new vm.Script(WRAPPER_HEAD + source + WRAPPER_TAIL, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string, uetImport: Importer) => void;
  const mod = { exports: {} as unknown };
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file), importHere);
  if (cachedData && script.cachedDataRejected !== true) return { exports: mod.exports as T, cache: 'used' };
  const written = writeQuiet(cacheFile, Buffer.concat([digest, script.createCachedData()]));
  return { exports: mod.exports as T, cache: !written ? 'unwritable' : stored ? 'replaced' : 'made' };
}

type Importer = (specifier: string) => Promise<unknown>;

/** import() from this module, outside the cached script: packages resolve from the loaded file's node_modules as from here */
const importHere: Importer = (specifier) => import(specifier);

function readQuiet(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

function writeQuiet(file: string, data: Buffer): boolean {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomicSyncNoFsync(file, data);
    return true;
  } catch {
    return false;
  }
}
