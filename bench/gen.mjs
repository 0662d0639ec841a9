#!/usr/bin/env node
// Generates one layered build graph in three forms, for benchmarks against make and ninja:
//
//   node bench/gen.mjs --tasks N --out DIR [--width W] [--per-file P] [--seed S] [--touch SRC] [--layout flat|folders]
//
// DIR receives
//   src/<i>.txt                 one source per task (--layout folders: src/<ws>/<i>.txt, a folder
//                               per workstream, and each uet task names its source by a glob,
//                               src/<ws>/<i>.*, as pipelines name theirs: uet lists the folder)
//   out/                        (empty) where every task writes out/<i>.txt
//   uet.config.yaml, phases/bench.yaml, phases/bench/wNNN.yaml   uet form: one phase `bench`,
//                               one workstream file per P tasks (default 100), task deps by full id
//   Makefile                    make form: real file targets
//   build.ninja                 ninja form
//   manifest.json               the task count, the graph, and what a touch of one source re-runs
//
// Graph: tasks 0..N-1 in layers of W (default 100); every task of layer L > 0 depends on 2 distinct
// tasks of layer L-1, picked by a seeded PRNG (same arguments, same graph). Task i runs
//   cksum src/<i>.txt out/<dep1>.txt out/<dep2>.txt > out/<i>.txt
// the same command string in all three forms: one cheap POSIX process, an output of constant size
// that changes whenever any input does, and a non-zero exit if an input is missing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prng } from './prng.mjs';

function usage(msg) {
  if (msg) console.error(`gen.mjs: ${msg}`);
  console.error('usage: node bench/gen.mjs --tasks N --out DIR [--width W] [--per-file P] [--seed S] [--touch SRC] [--layout flat|folders]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { tasks: NaN, out: '', width: 100, perFile: 100, seed: 1, touch: '', layout: 'flat' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--help' || arg === '-h') usage();
    if (value === undefined) usage(`${arg} needs a value`);
    i++;
    switch (arg) {
      case '--tasks': opts.tasks = Number(value); break;
      case '--out': opts.out = value; break;
      case '--width': opts.width = Number(value); break;
      case '--per-file': opts.perFile = Number(value); break;
      case '--seed': opts.seed = Number(value); break;
      case '--touch': opts.touch = value; break;
      case '--layout': opts.layout = value; break;
      default: usage(`unknown option ${arg}`);
    }
  }
  for (const key of ['tasks', 'width', 'perFile']) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) usage(`--${key === 'perFile' ? 'per-file' : key} must be a positive integer`);
  }
  if (!Number.isInteger(opts.seed)) usage('--seed must be an integer');
  if (!opts.out) usage('--out is required');
  if (opts.layout !== 'flat' && opts.layout !== 'folders') usage('--layout must be flat or folders');
  return opts;
}

/** deps[i]: the upstream task indexes of task i, ascending */
function buildGraph(n, width, seed) {
  const rand = prng(seed);
  const deps = [];
  for (let i = 0; i < n; i++) {
    const layer = Math.floor(i / width);
    if (layer === 0) {
      deps.push([]);
      continue;
    }
    const start = (layer - 1) * width; // layer L-1 is always full
    const first = start + Math.floor(rand() * width);
    if (width === 1) {
      deps.push([first]);
      continue;
    }
    let second = start + Math.floor(rand() * (width - 1));
    if (second >= first) second++; // distinct from first
    deps.push([first, second].sort((a, b) => a - b));
  }
  return deps;
}

const opts = parseArgs(process.argv.slice(2));
const { tasks: n, width, perFile, seed } = opts;
const out = path.resolve(opts.out);
const deps = buildGraph(n, width, seed);
const layers = Math.ceil(n / width);
const pad = (i, len) => String(i).padStart(len, '0');
const taskDigits = String(n - 1).length;
const wsDigits = Math.max(3, String(Math.ceil(n / perFile) - 1).length);
const PHASE = 'bench';
const wsOf = (i) => `w${pad(Math.floor(i / perFile), wsDigits)}`;
const taskId = (i) => `t${pad(i, taskDigits)}`;
const fullId = (i) => `${PHASE}/${wsOf(i)}/${taskId(i)}`;
const folders = opts.layout === 'folders';
const src = (i) => (folders ? `src/${wsOf(i)}/${i}.txt` : `src/${i}.txt`);
/** how a uet task names its source */
const srcGlob = (i) => (folders ? `src/${wsOf(i)}/${i}.*` : src(i));
const touched = opts.touch === '' ? 0 : Array.from({ length: n }, (_, i) => i).find((i) => src(i) === opts.touch);
if (touched === undefined) usage(`--touch must name a source: ${src(0)} .. ${src(n - 1)}`);
const output = (i) => `out/${i}.txt`;
const inputsOf = (i) => [src(i), ...deps[i].map(output)];
const command = (i) => `cksum ${inputsOf(i).join(' ')} > ${output(i)}`;
// JSON strings are valid YAML double-quoted scalars
const q = (s) => JSON.stringify(s);

function write(rel, text) {
  const file = path.join(out, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

// A previous generation may have had more tasks or workstream files: start from a clean slate
// for everything this script owns, and nothing else. Only into an empty folder or a former output.
if (fs.existsSync(out) && fs.readdirSync(out).length > 0) {
  let ours = false;
  try {
    ours = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).generator === 'bench/gen.mjs';
  } catch {
    ours = false;
  }
  if (!ours) usage(`${out} is not empty and holds no manifest.json of gen.mjs: refusing to write into it`);
}
for (const rel of ['src', 'out', 'phases', 'uet.config.yaml', 'Makefile', 'build.ninja', 'manifest.json']) {
  fs.rmSync(path.join(out, rel), { recursive: true, force: true });
}
fs.mkdirSync(path.join(out, 'out'), { recursive: true });

// sources
for (let i = 0; i < n; i++) write(src(i), `source ${i}\n`);

// uet form
const header = `# generated by bench/gen.mjs --tasks ${n} --width ${width} --per-file ${perFile} --seed ${seed} --layout ${opts.layout}\n`;
write(
  'uet.config.yaml',
  header +
    'version: 1\n' +
    'project: bench\n' +
    'phases: ["phases/*.yaml"]\n' +
    'shell: /bin/sh\n' +
    'env:\n' +
    '  pass: [PATH]\n',
);
write(
  `phases/${PHASE}.yaml`,
  header +
    `id: ${PHASE}\n` +
    `name: ${q(`${n} tasks, ${layers} layers of ${width}`)}\n` +
    `# workstreams: phases/${PHASE}/*.yaml, ${perFile} tasks each\n`,
);
for (let start = 0; start < n; start += perFile) {
  const lines = [header.trimEnd(), `id: ${wsOf(start)}`, 'tasks:'];
  for (let i = start; i < Math.min(n, start + perFile); i++) {
    lines.push(`  - id: ${taskId(i)}`);
    lines.push(`    run: ${q(command(i))}`);
    lines.push(`    inputs: [${q(srcGlob(i))}]`);
    lines.push(`    outputs: [${q(output(i))}]`);
    if (deps[i].length > 0) lines.push(`    depends_on: [${deps[i].map((d) => q(fullId(d))).join(', ')}]`);
  }
  write(`phases/${PHASE}/${wsOf(start)}.yaml`, lines.join('\n') + '\n');
}

// make form
const mk = [header.trimEnd(), 'MAKEFLAGS += --no-builtin-rules', '.SUFFIXES:', '.PHONY: all', ''];
mk.push('all: \\');
for (let i = 0; i < n; i++) mk.push(`  ${output(i)}${i < n - 1 ? ' \\' : ''}`);
mk.push('');
for (let i = 0; i < n; i++) {
  mk.push(`${output(i)}: ${inputsOf(i).join(' ')}`);
  mk.push(`\t${command(i)}`);
}
write('Makefile', mk.join('\n') + '\n');

// ninja form: `cksum $in > $out` expands to the same command string as above
const nj = [header.trimEnd(), 'rule cksum', '  command = cksum $in > $out', '  description = $out', ''];
for (let i = 0; i < n; i++) nj.push(`build ${output(i)}: cksum ${inputsOf(i).join(' ')}`);
write('build.ninja', nj.join('\n') + '\n');

// manifest: what a change of one source must re-run (the task and everything downstream)
const dependents = Array.from({ length: n }, () => []);
deps.forEach((ds, i) => ds.forEach((d) => dependents[d].push(i)));
const rerun = new Set([touched]);
for (let k = touched; k < n; k++) {
  // tasks only depend on lower indexes, so one ascending pass is a topological walk
  if (rerun.has(k)) for (const j of dependents[k]) rerun.add(j);
}
const rerunSorted = [...rerun].sort((a, b) => a - b);
const manifest = {
  generator: 'bench/gen.mjs',
  tasks: n,
  width,
  layers,
  per_file: perFile,
  seed,
  layout: opts.layout,
  edges: deps.reduce((s, ds) => s + ds.length, 0),
  outputs: 'out/<i>.txt',
  touch: src(touched),
  rerun: rerunSorted.map(fullId),
  rerun_outputs: rerunSorted.map(output),
  commands: { uet: 'uet build', make: 'make -j<N>', ninja: 'ninja -j<N>' },
  deps: deps,
};
write('manifest.json', JSON.stringify(manifest, null, 1) + '\n');
console.log(`${out}: ${n} tasks, ${layers} layers, ${manifest.edges} edges; touching ${src(touched)} re-runs ${rerun.size}`);
