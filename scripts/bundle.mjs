#!/usr/bin/env node
// `npm run build`, after tsc:  node scripts/bundle.mjs
//
// Links the compiled CLI (dist/lib, tsc's output) into a few files in dist/bundle, which
// bin/uet.js loads. Node's loader costs ~0.7 ms an ES module on a 2-core machine, and a build
// that did not end in the no-op fast path loaded ~80 of them (~35 chunks once bundled, ~55 ms).
//
// - The no-op fast path is one CommonJS file with everything it imports: a no-op loads nothing
//   else. CommonJS, as bin/uet.js is: the ES module loader took ~5 ms of a no-op.
// - The rest of the command line is one CommonJS file, main.cjs, which bin/uet.js loads through
//   lib/cli/load-cli.ts (load-cli.cjs here, a file of its own) with V8's code cache:
//   ~20 ms instead of ~55. Its lazily loaded parts (the compiler, the cache, watch, serve) are
//   in it too, run only when first imported; the code cache makes their size nearly free.
//   import.meta.url is main.cjs's own URL.
// - The pool's worker (lib/exec/pool.ts loads it through `./worker-entry.cjs` next to itself,
//   copied here from dist/lib as it is: CommonJS, see lib/exec/worker-entry.cts) and `uet
//   serve`'s proof-check-worker.js, found the same way, are ES modules sharing their code
//   through chunks.
// - So the fast path and the build each hold a copy of the no-op proof's code, and both name
//   the uet that wrote a proof by the id this script gives the bundle (UET_BUNDLE_ID, see
//   uetBuildId in lib/build/noop-proof.ts).
// - Every file lands directly in dist/bundle, two levels below the package root like
//   dist/lib/*.js, so what lib/ resolves from import.meta.url (package.json, schema/,
//   templates/) is found the same way.
// - Dependencies stay imports of their own packages (piscina, for one, starts its threads from
//   a file next to its own code), but for the small pure-JS ones loaded on every run. Those
//   that are ES modules only (chokidar) are loaded with import() in lib/, never require()d.
// - The spec's JSON Schemas are compiled here into ajv's standalone code,
//   dist/bundle/schema-validators.cjs, with the options lib/spec/schema-check.ts uses and a
//   digest of the schemas, so that a run reading the spec neither loads ajv nor compiles them.
// - Files a previous build wrote and this one did not are removed.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
const compiled = (p) => path.join(root, 'dist', 'lib', p);
/**
 * bundled into uet's files rather than imported: commander alone is 7 modules. tinyglobby (with
 * fdir, and the picomatch it imports: the same as ours, loaded once) and keyv (with
 * @keyv/serialize) took 7 ms of loading main.cjs as CommonJS packages of their own (28 -> 21 ms).
 * (@keyv/serialize is named here since uet imports it too: left out, keyv's require() of it
 * resolved through node_modules at a build's first cache lookup, ~4.5 ms of a touch.)
 */
const INLINED = new Set(['commander', 'picomatch', 'picocolors', 'ulid', 'tinyglobby', 'keyv', '@keyv/serialize']);

const fastPath = compiled('cli/noop-fast-path.js');
const loadCli = compiled('cli/load-cli.js');
const cli = compiled('cli/main.js');
const workers = ['exec/worker.js', 'cli/proof-check-worker.js'].map(compiled);
for (const e of [fastPath, loadCli, cli, ...workers]) {
  if (!fs.existsSync(e)) {
    console.error(`bundle: ${path.relative(root, e)} is missing: run tsc first (npm run build does both)`);
    process.exit(1);
  }
}

const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
/**
 * fdir (tinyglobby's crawler) require()s picomatch at load, optionally, for a glob API of its
 * own that tinyglobby never calls (it passes its own matchers): ~5 ms of loading the CLI, a
 * second picomatch from node_modules. Its load is cut out here; should fdir change, the warning
 * says so, and test/cli-bundle fails.
 */
const fdirWithoutOptionalPicomatch = {
  name: 'fdir-without-optional-picomatch',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]fdir[\\/]dist[\\/]index\.mjs$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      const cut = text.replace(/__require\.resolve\("picomatch"\);\s*pm = __require\("picomatch"\);/, '');
      if (cut === text) return { contents: text, loader: 'js', warnings: [{ text: 'fdir no longer loads picomatch as expected: left as it is' }] };
      return { contents: cut, loader: 'js' };
    });
  },
};

const common = {
  plugins: [fdirWithoutOptionalPicomatch],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(dependencies).filter((d) => !INLINED.has(d)),
  define: { UET_BUNDLE_ID: JSON.stringify(`bundle:${randomUUID()}`) },
  // a CommonJS package bundled here may require() node's own modules
  banner: { js: "import { createRequire as uetCreateRequire } from 'node:module'; const require = uetCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
};
const commonJs = {
  ...common,
  format: 'cjs',
  define: { ...common.define, 'import.meta.url': 'uetImportMetaUrl' },
  banner: { js: "const uetImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};
const results = await Promise.all([
  build({ ...commonJs, entryPoints: [fastPath], outfile: path.join(outdir, 'noop-fast-path.cjs') }),
  build({ ...commonJs, entryPoints: [loadCli], outfile: path.join(outdir, 'load-cli.cjs') }),
  build({ ...commonJs, entryPoints: [cli], outfile: path.join(outdir, 'main.cjs') }),
  build({ ...common, entryPoints: workers, outdir, entryNames: '[name]', chunkNames: 'chunk-[hash]', splitting: true }),
]);

asciiOnly(path.join(outdir, 'main.cjs'));
const written = new Set(results.flatMap((r) => Object.keys(r.metafile.outputs)).map((p) => path.resolve(root, p)));
written.add(await writeValidators());
written.add(copyWorkerEntry());
for (const name of fs.readdirSync(outdir)) {
  const p = path.join(outdir, name);
  if (!written.has(p)) fs.rmSync(p, { recursive: true, force: true });
}

/**
 * V8 holds a source with one character past U+00FF two bytes a character, and keeps main.cjs's
 * source while the process lives. esbuild writes every such character of code as an escape (its
 * default charset, ASCII); those left are in comments ("µs", "→"), where '?' does as well.
 */
function asciiOnly(file) {
  const text = fs.readFileSync(file, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/g, '?');
  if (ascii !== text) fs.writeFileSync(file, ascii);
}

/** the pool's CommonJS worker entry, next to the chunk of lib/exec/pool.ts; returns the file written */
function copyWorkerEntry() {
  const file = path.join(outdir, 'worker-entry.cjs');
  fs.copyFileSync(compiled('exec/worker-entry.cjs'), file);
  return file;
}

/** ajv's standalone code for the spec's schemas (see the header); returns the file written */
async function writeValidators() {
  const check = await import(pathToFileURL(compiled('spec/schema-check.js')).href);
  const { Ajv } = await import('ajv');
  const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
  const ajv = new Ajv({ ...check.AJV_OPTIONS, code: { source: true } });
  const texts = check.schemaTexts();
  for (const text of texts.values()) ajv.addSchema(JSON.parse(text));
  const exports = Object.fromEntries(check.SCHEMA_NAMES.map((name) => [name, `${name}.schema.json`]));
  const file = path.join(outdir, check.PRECOMPILED_FILE);
  const code = `${standaloneCode(ajv, exports)}\nexports.digest = ${JSON.stringify(check.schemasDigest(texts))};\n`;
  fs.writeFileSync(file, code);
  return file;
}
