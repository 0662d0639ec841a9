/**
 * What bin/uet.js loads once the no-op fast path declined: the rest of the command line, the
 * CommonJS file dist/bundle/main.cjs, through V8's code cache kept in dist/code-cache (outside
 * dist/bundle, the package's files). Only meaningful bundled (scripts/bundle.mjs): the paths
 * are dist/bundle's.
 */
import { fileURLToPath } from 'node:url';
import { loadWithCodeCache } from './code-cache.js';
import { holdYoungGeneration } from './heap-tuning.js';

export type Cli = typeof import('./main.js');

export function loadCli(): Cli {
  // First: V8's young generation stays small while the build loads (lib/cli/heap-tuning.ts),
  // and the flag it sets is part of what the code cache is checked against, so every load
  // sets it before compiling, the load that makes the cache included.
  holdYoungGeneration();
  const file = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
  return loadWithCodeCache<Cli>(file('./main.cjs'), file('../code-cache/main.cjs.cache')).exports;
}
