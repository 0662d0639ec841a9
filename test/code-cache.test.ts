/**
 * Loading a CommonJS file with V8's code cache (lib/cli/code-cache.ts), as bin/uet.js loads
 * dist/bundle/main.cjs: each load runs in a fresh node, as each command does, since a process
 * holds one compiled copy of a script and V8 checks a cache only when it compiles.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from './helpers/project.js';

const LOADER = path.join(REPO_ROOT, 'dist', 'lib', 'cli', 'code-cache.js');

/** what a fresh node loading `file` prints: how the cache went, and what the module answered */
function load(file: string, cacheFile: string): { cache: string; answer: string } {
  const script = `
    const { loadWithCodeCache } = await import(${JSON.stringify(LOADER)});
    const loaded = loadWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cacheFile)});
    console.log(JSON.stringify({ cache: loaded.cache, answer: String(await loaded.exports.answer()) }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as { cache: string; answer: string };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'uet-code-cache-'));
}

/** a module whose source is `size` bytes long whatever its answer (V8 checks only a source's length) */
function moduleSource(answer: string, size = 4000): string {
  // uetImport: the import() the loader hands in (lib/util/import-module.ts), as the bundle uses it
  const head = `'use strict';\nconst path = require('node:path');\nexports.answer = async () => (await uetImport('node:path')).basename(${JSON.stringify(answer)});\n`;
  return head + '//'.padEnd(size - head.length - 1, 'x') + '\n';
}

test('the first load makes the cache, the next ones use it', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.cjs');
  const cacheFile = path.join(dir, 'cache', 'm.cjs.cache');
  fs.writeFileSync(file, moduleSource('first'));
  assert.equal(load(file, cacheFile), { cache: 'made', answer: 'first' });
  assert.ok(fs.existsSync(cacheFile), 'no cache file was written');
  assert.equal(load(file, cacheFile), { cache: 'used', answer: 'first' });
  assert.equal(load(file, cacheFile), { cache: 'used', answer: 'first' });
});

test("a source changed to the same length does not run the old source's cache", () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.cjs');
  const cacheFile = path.join(dir, 'm.cjs.cache');
  fs.writeFileSync(file, moduleSource('alpha'));
  assert.is(load(file, cacheFile).answer, 'alpha');
  const before = fs.statSync(file).size;
  fs.writeFileSync(file, moduleSource('omega'));
  assert.is(fs.statSync(file).size, before);
  assert.equal(load(file, cacheFile), { cache: 'replaced', answer: 'omega' });
  assert.equal(load(file, cacheFile), { cache: 'used', answer: 'omega' });
});

test('a damaged cache is refused and made again', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.cjs');
  const cacheFile = path.join(dir, 'm.cjs.cache');
  fs.writeFileSync(file, moduleSource('kept'));
  load(file, cacheFile);
  const bytes = fs.readFileSync(cacheFile);
  // the digest (32 bytes) stays right; V8's data after it is garbage
  for (let i = 40; i < bytes.length; i++) bytes[i] = (bytes[i]! * 31 + 7) & 0xff;
  fs.writeFileSync(cacheFile, bytes);
  assert.equal(load(file, cacheFile), { cache: 'replaced', answer: 'kept' });
  assert.equal(load(file, cacheFile), { cache: 'used', answer: 'kept' });
  fs.writeFileSync(cacheFile, 'short');
  assert.equal(load(file, cacheFile), { cache: 'replaced', answer: 'kept' });
});

test('a cache that cannot be written costs nothing but the cache', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.cjs');
  fs.writeFileSync(file, moduleSource('anyway'));
  // its folder would be a file
  const cacheFile = path.join(file, 'm.cjs.cache');
  assert.equal(load(file, cacheFile), { cache: 'unwritable', answer: 'anyway' });
  assert.equal(load(file, cacheFile), { cache: 'unwritable', answer: 'anyway' });
});

test.run();
