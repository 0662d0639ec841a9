#!/usr/bin/env node
// GATE_RELEASE (phases/phase-3.yaml):  node scripts/check-pack.mjs dist/pack.json
// Reads the output of `npm pack --dry-run --json` and checks that the package ships what a user
// needs (the bin, the compiled CLI, the JSON Schemas) and nothing it must not (state, cache).
import * as fs from 'node:fs';

const file = process.argv[2] ?? 'dist/pack.json';
let packs;
try {
  packs = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`${file}: cannot read npm pack output: ${err.message}`);
  process.exit(1);
}
const pack = Array.isArray(packs) ? packs[0] : packs;
if (!pack || !Array.isArray(pack.files)) {
  console.error(`${file}: no "files" list (expected the output of npm pack --dry-run --json)`);
  process.exit(1);
}
const paths = new Set(pack.files.map((f) => f.path));
const problems = [];

const required = [
  'package.json',
  'bin/uet.js',
  // what makes bin/uet.js CommonJS in a package of ES modules
  'bin/package.json',
  'dist/bundle/noop-fast-path.cjs',
  'dist/bundle/load-cli.cjs',
  'dist/bundle/main.cjs',
  'dist/bundle/worker.js',
  // what piscina's workers load (lib/exec/worker-entry.cts), which imports worker.js
  'dist/bundle/worker-entry.cjs',
  'dist/bundle/proof-check-worker.js',
  // the spec's validators, compiled from schema/ (without them every spec read compiles them)
  'dist/bundle/schema-validators.cjs',
  'schema/config.schema.json',
  'schema/phase.schema.json',
  'schema/workstream.schema.json',
];
for (const p of required) if (!paths.has(p)) problems.push(`missing from the package: ${p}`);

// dist/code-cache: V8's code for main.cjs, made by the machine that ran it (lib/cli/code-cache.ts)
const forbidden = [/^\.uet\//, /^cache\//, /^node_modules\//, /^\.git\//, /^bench\/work\//, /^dist\/code-cache\//];
for (const p of paths) {
  if (forbidden.some((re) => re.test(p))) problems.push(`must not be in the package: ${p}`);
}

const bin = pack.files.find((f) => f.path === 'bin/uet.js');
if (bin && typeof bin.mode === 'number' && (bin.mode & 0o111) === 0) {
  problems.push(`bin/uet.js is not executable in the package (mode ${bin.mode.toString(8)})`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${pack.name}@${pack.version}: ${pack.entryCount ?? paths.size} files, ${pack.size} bytes packed, ${pack.unpackedSize} unpacked; ok`);
