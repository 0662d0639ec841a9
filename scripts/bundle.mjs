#!/usr/bin/env node
// `npm run build`, after tsc:  node scripts/bundle.mjs
//
// Links the compiled CLI (dist/lib, tsc's output) into a few ES modules in dist/bundle, which
// bin/uet.js loads. Node's loader costs ~0.7 ms a module on a 2-core machine, and a build that
// did not end in the no-op fast path loaded ~80 of them.
//
// - The no-op fast path is one file with everything it imports: a no-op loads nothing else.
// - The rest (the heap tuning and main, which bin/uet.js imports next, the pool's worker,
//   which lib/exec/pool.ts loads through `./worker-entry.cjs` next to itself, copied here
//   from dist/lib as it is (CommonJS: see lib/exec/worker-entry.cts), and `uet serve`'s
//   proof-check-worker.js, found the same way) shares its code through
//   chunks, each module once; modules loaded with import() stay chunks of their own, loaded
//   only when needed, as in dist/lib.
// - So the fast path and the build each hold a copy of the no-op proof's code, and both name
//   the uet that wrote a proof by the id this script gives the bundle (UET_BUNDLE_ID, see
//   uetBuildId in lib/build/noop-proof.ts).
// - Every file lands directly in dist/bundle, two levels below the package root like
//   dist/lib/*.js, so what lib/ resolves from import.meta.url (package.json, schema/,
//   templates/) is found the same way.
// - Dependencies stay imports of their own packages (piscina, for one, starts its threads from
//   a file next to its own code), but for the small pure-JS ones loaded on every run.
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
/** bundled into uet's files rather than imported: commander alone is 7 modules */
const INLINED = new Set(['commander', 'picomatch', 'picocolors', 'ulid']);

const fastPath = compiled('cli/noop-fast-path.js');
const rest = ['cli/heap-tuning.js', 'cli/main.js', 'exec/worker.js', 'cli/proof-check-worker.js'].map(compiled);
for (const e of [fastPath, ...rest]) {
  if (!fs.existsSync(e)) {
    console.error(`bundle: ${path.relative(root, e)} is missing: run tsc first (npm run build does both)`);
    process.exit(1);
  }
}

const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const common = {
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
const results = await Promise.all([
  build({ ...common, entryPoints: [fastPath], outfile: path.join(outdir, 'noop-fast-path.js') }),
  build({ ...common, entryPoints: rest, outdir, entryNames: '[name]', chunkNames: 'chunk-[hash]', splitting: true }),
]);

const written = new Set(results.flatMap((r) => Object.keys(r.metafile.outputs)).map((p) => path.resolve(root, p)));
written.add(await writeValidators());
written.add(copyWorkerEntry());
for (const name of fs.readdirSync(outdir)) {
  const p = path.join(outdir, name);
  if (!written.has(p)) fs.rmSync(p, { recursive: true, force: true });
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
