/**
 * What bin/uet.js runs: dist/bundle, written by scripts/bundle.mjs from tsc's dist/lib. The
 * no-op fast path is one file, the rest of the command line is one CommonJS file (main.cjs),
 * and the two copies of the no-op proof's code must name the same uet (lib/build/noop-proof.ts, uetBuildId). That they do is what
 * test/cli-noop-proof.test.ts sees through the CLI: a second build answered from the proof.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHAIN, makeProject, removeProject, REPO_ROOT, runUet } from './helpers/project.js';

const BUNDLE = path.join(REPO_ROOT, 'dist', 'bundle');
const IMPORT_FROM = /^(?:import|export)\b[^'"]*?\bfrom\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm;
const BUNDLE_ID = /"(bundle:[0-9a-f-]{36})"/g;

function specifiers(file: string): string[] {
  const text = fs.readFileSync(path.join(BUNDLE, file), 'utf8');
  return [...text.matchAll(IMPORT_FROM)].map((m) => (m[1] ?? m[2]) as string);
}

/** what a CommonJS file of dist/bundle require()s */
function required(file: string): string[] {
  return [...fs.readFileSync(path.join(BUNDLE, file), 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1] as string);
}

test('bin/uet.js and the two files it loads are CommonJS: the ES module loader took ~5 ms of every no-op', () => {
  const bin = path.join(REPO_ROOT, 'bin', 'uet.js');
  assert.is(packageJsonOf(bin).type, 'commonjs', 'bin/package.json makes bin/uet.js CommonJS');
  const text = fs.readFileSync(bin, 'utf8');
  assert.equal([...text.matchAll(/require\('(\.\.\/dist\/bundle\/[^']+)'\)/g)].map((m) => m[1]), ['../dist/bundle/noop-fast-path.cjs', '../dist/bundle/load-cli.cjs']);
  assert.not.ok(/^\s*(import|export)\s/m.test(text), 'no ES module syntax');
  for (const f of ['noop-fast-path.cjs', 'load-cli.cjs']) assert.equal(specifiers(f), [], `${f} has no import statement`);
});

test('the no-op fast path is one file: it requires node builtins only', () => {
  const imported = required('noop-fast-path.cjs');
  assert.ok(imported.length > 0, 'no import found: the pattern no longer matches esbuild output');
  assert.equal(
    imported.filter((s) => !s.startsWith('node:')),
    [],
  );
  // ~4 ms of every no-op: node:crypto is loaded when something must be hashed, not before
  assert.not.ok(imported.includes('node:crypto'), 'node:crypto is required up front');
});

test("every relative import in dist/bundle names a file that is there (no chunk of an earlier bundle is missing)", () => {
  const files = fs.readdirSync(BUNDLE).filter((f) => f.endsWith('.js') || f.endsWith('.cjs'));
  for (const entry of ['noop-fast-path.cjs', 'load-cli.cjs', 'main.cjs', 'worker.js', 'worker-entry.cjs', 'proof-check-worker.js']) assert.ok(files.includes(entry), `dist/bundle/${entry} is missing`);
  for (const f of files) {
    const text = fs.readFileSync(path.join(BUNDLE, f), 'utf8');
    const relative = [...text.matchAll(/(?:from\s*|import\s*\(\s*|import\s*)["'](\.\/[^"']+)["']/g)].map((m) => m[1] as string);
    for (const r of relative) assert.ok(fs.existsSync(path.join(BUNDLE, r)), `${f} imports ${r}, which is not in dist/bundle`);
  }
});

test('the fast path and the build carry one bundle id', () => {
  const ids = new Map<string, string[]>();
  for (const f of fs.readdirSync(BUNDLE).filter((n) => n.endsWith('.js') || n.endsWith('.cjs'))) {
    for (const m of fs.readFileSync(path.join(BUNDLE, f), 'utf8').matchAll(BUNDLE_ID)) ids.set(m[1] as string, [...(ids.get(m[1] as string) ?? []), f]);
  }
  assert.is(ids.size, 1, `bundle ids: ${JSON.stringify([...ids])}`);
  const holders = [...ids.values()][0] ?? [];
  assert.ok(holders.includes('noop-fast-path.cjs'), 'the fast path has no id');
  assert.ok(holders.includes('main.cjs'), 'the build has no id');
});

/** the package.json that governs `file`: the nearest one above it */
function packageJsonOf(file: string): { type?: string } {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) return JSON.parse(fs.readFileSync(p, 'utf8')) as { type?: string };
  }
  return {};
}

test("main.cjs holds one import(), lib/util/import-module.ts's: any other would fail once V8's code cache is used", () => {
  const text = fs.readFileSync(path.join(BUNDLE, 'main.cjs'), 'utf8');
  // import() followed by an argument: code, not the comments that name import()
  const calls = [...text.matchAll(/(?<![\w.$])import\((?!\))([^)]*)\)/g)].map((m) => m[1] as string);
  assert.equal(calls, ['specifier']);
});

test('main.cjs require()s only CommonJS files: an ES-module-only package is loaded with import()', () => {
  const text = fs.readFileSync(path.join(BUNDLE, 'main.cjs'), 'utf8');
  const required = new Set([...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1] as string).filter((s) => !s.startsWith('node:')));
  assert.not.ok(/require\("picomatch"\)/.test(text), 'main.cjs loads a second picomatch (fdir\'s optional one: see scripts/bundle.mjs)');
  // what a build loads on its way (scripts/bundle.mjs, INLINED) is in the file, not resolved through node_modules at run time
  for (const inlined of ['commander', 'picocolors', 'ulid', 'tinyglobby', 'keyv', '@keyv/serialize']) assert.not.ok(required.has(inlined), `main.cjs require()s ${inlined} at run time`);
  assert.ok(required.has('yaml'), `no require of a package found (${[...required].join(', ')}): the pattern no longer matches esbuild output`);
  const requireFrom = createRequire(path.join(BUNDLE, 'main.cjs'));
  for (const name of required) {
    const file = requireFrom.resolve(name);
    const esm = file.endsWith('.mjs') || (file.endsWith('.js') && packageJsonOf(file).type === 'module');
    assert.not.ok(esm, `main.cjs require()s ${name}, which resolves to the ES module ${file}`);
  }
});

test("a build reads a spec in the fast parser's subset without loading the yaml library (~30 ms of its 72 modules); a file outside it is read by the library", async () => {
  const dir = makeProject({ 'uet.config.yaml': 'version: 1\n', 'src/a.txt': 'one\n', 'src/b.txt': 'bee\n', 'phases/p.yaml': CHAIN });
  try {
    // what the CLI process loaded from node_modules, written as it exits
    const hook = path.join(dir, 'loaded.cjs');
    fs.writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'loaded.txt'))}, Object.keys(require.cache).join('\\n')));\n`);
    const loadedPackages = async (): Promise<string[]> => {
      const r = await runUet(dir, ['build', '--quiet'], { env: { NODE_OPTIONS: `--require ${hook}` } });
      assert.is(r.code, 0, r.stderr);
      const files = fs.readFileSync(path.join(dir, 'loaded.txt'), 'utf8').split('\n');
      return [...new Set(files.map((f) => /[\\/]node_modules[\\/]([^\\/]+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined))];
    };
    const fast = await loadedPackages();
    assert.ok(fast.includes('graphology'), `the hook saw no package load (${fast.join(', ')})`);
    assert.not.ok(fast.includes('yaml'), 'the yaml library was loaded');
    // an anchor: outside the fast parser's subset
    fs.writeFileSync(path.join(dir, 'phases/p.yaml'), CHAIN.replace('inputs: [src/b.txt]', 'inputs: &b [src/b.txt]'));
    const full = await loadedPackages();
    assert.ok(full.includes('yaml'), `a file outside the subset was not read by the yaml library (${full.join(', ')})`);
  } finally {
    removeProject(dir);
  }
});

test.run();
