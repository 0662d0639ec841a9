#!/usr/bin/env node
// Generates the JS-workspace shape for benchmarks against turbo and wireit:
//
//   node bench/gen-workspace.mjs --tool uet|turbo|wireit --out DIR [--packages N] [--width W] [--seed S]
//
// N packages (default 50) in layers of W (default 10); every package of layer L > 0 depends on
// 2 distinct packages of layer L-1 (seeded, so every tool gets the same graph). Each package has
//   build:  cksum src.txt ../<dep1>/build.out ../<dep2>/build.out > build.out
//   test:   cksum build.out > test.out            (after its own build)
// run in the package's folder: the same command strings for every tool, so every tool must
// produce the same bytes. One tree per tool (package.json scripts differ between turbo and
// wireit); DIR receives packages/pNN/{src.txt,package.json} and the tool's own configuration:
//   uet      uet.config.yaml, phases/ws.yaml, phases/ws/pNN.yaml (tasks build, test)
//   turbo    package.json (npm workspaces), turbo.json
//   wireit   package.json (script `all` depending on every package's test), wireit configs
// and manifest.json (the graph, the outputs, how to run the tool).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prng } from './prng.mjs';

function usage(msg) {
  if (msg) console.error(`gen-workspace.mjs: ${msg}`);
  console.error('usage: node bench/gen-workspace.mjs --tool uet|turbo|wireit --out DIR [--packages N] [--width W] [--seed S]');
  process.exit(2);
}

const opts = { tool: '', out: '', packages: 50, width: 10, seed: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const [arg, value] = [argv[i], argv[i + 1]];
  if (arg === '--help' || arg === '-h') usage();
  if (value === undefined) usage(`${arg} needs a value`);
  switch (arg) {
    case '--tool': opts.tool = value; break;
    case '--out': opts.out = value; break;
    case '--packages': opts.packages = Number(value); break;
    case '--width': opts.width = Number(value); break;
    case '--seed': opts.seed = Number(value); break;
    default: usage(`unknown option ${arg}`);
  }
}
if (!['uet', 'turbo', 'wireit'].includes(opts.tool)) usage('--tool must be uet, turbo or wireit');
if (!opts.out) usage('--out is required');
for (const k of ['packages', 'width']) if (!Number.isInteger(opts[k]) || opts[k] < 1) usage(`--${k} must be a positive integer`);

const { packages: n, width } = opts;
const rand = prng(opts.seed);
const deps = [];
for (let i = 0; i < n; i++) {
  const layer = Math.floor(i / width);
  if (layer === 0 || width < 2) {
    deps.push(layer === 0 ? [] : [(layer - 1) * width]);
    continue;
  }
  const start = (layer - 1) * width;
  const first = start + Math.floor(rand() * width);
  let second = start + Math.floor(rand() * (width - 1));
  if (second >= first) second++;
  deps.push([first, second].sort((a, b) => a - b));
}

const name = (i) => `p${String(i).padStart(2, '0')}`;
const buildCmd = (i) => `cksum src.txt ${deps[i].map((d) => `../${name(d)}/build.out`).join(' ')}`.trimEnd() + ' > build.out';
const TEST_CMD = 'cksum build.out > test.out';
const out = path.resolve(opts.out);
const q = (s) => JSON.stringify(s);

if (fs.existsSync(out) && fs.readdirSync(out).length > 0) {
  let ours = false;
  try {
    ours = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).generator === 'bench/gen-workspace.mjs';
  } catch {
    ours = false;
  }
  if (!ours) usage(`${out} is not empty and holds no manifest.json of gen-workspace.mjs: refusing to write into it`);
  fs.rmSync(out, { recursive: true, force: true });
}
function write(rel, text) {
  const file = path.join(out, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
const json = (v) => JSON.stringify(v, null, 2) + '\n';

for (let i = 0; i < n; i++) write(`packages/${name(i)}/src.txt`, `package ${i}\n`);

switch (opts.tool) {
  case 'uet': {
    write('uet.config.yaml', 'version: 1\nproject: ws\nphases: ["phases/*.yaml"]\nshell: /bin/sh\nenv:\n  pass: [PATH]\n');
    write('phases/ws.yaml', `id: ws\nname: ${q(`${n} packages`)}\n`);
    for (let i = 0; i < n; i++) {
      const p = name(i);
      const dir = `packages/${p}`;
      const lines = [`id: ${p}`, 'tasks:', '  - id: build', `    run: ${q(buildCmd(i))}`, `    cwd: ${dir}`, `    inputs: [${q(`${dir}/src.txt`)}]`, `    outputs: [${q(`${dir}/build.out`)}]`];
      if (deps[i].length > 0) lines.push(`    depends_on: [${deps[i].map((d) => q(`${name(d)}/build`)).join(', ')}]`);
      lines.push('  - id: test', `    run: ${q(TEST_CMD)}`, `    cwd: ${dir}`, `    inputs: [${q(`${dir}/build.out`)}]`, `    outputs: [${q(`${dir}/test.out`)}]`, '    depends_on: [build]');
      write(`phases/ws/${p}.yaml`, lines.join('\n') + '\n');
    }
    break;
  }
  case 'turbo': {
    write('package.json', json({ name: 'bench-ws', private: true, workspaces: ['packages/*'], packageManager: 'npm@10.9.0' }));
    write('package-lock.json', json({ name: 'bench-ws', lockfileVersion: 3, requires: true, packages: { '': { name: 'bench-ws', workspaces: ['packages/*'] } } }));
    write(
      'turbo.json',
      json({
        $schema: 'https://turbo.build/schema.json',
        tasks: {
          build: { dependsOn: ['^build'], inputs: ['src.txt'], outputs: ['build.out'] },
          // turbo hashes every task before running any: build.out, written by build, cannot be an
          // input of test (test's hash already includes build's)
          test: { dependsOn: ['build'], inputs: ['package.json'], outputs: ['test.out'] },
        },
      }),
    );
    for (let i = 0; i < n; i++) {
      const dependencies = Object.fromEntries(deps[i].map((d) => [name(d), '0.0.0']));
      write(`packages/${name(i)}/package.json`, json({ name: name(i), version: '0.0.0', private: true, scripts: { build: buildCmd(i), test: TEST_CMD }, dependencies }));
    }
    break;
  }
  case 'wireit': {
    write(
      'package.json',
      json({
        name: 'bench-ws',
        private: true,
        scripts: { all: 'wireit' },
        wireit: { all: { dependencies: Array.from({ length: n }, (_, i) => `./packages/${name(i)}:test`) } },
      }),
    );
    for (let i = 0; i < n; i++) {
      write(
        `packages/${name(i)}/package.json`,
        json({
          name: name(i),
          version: '0.0.0',
          private: true,
          scripts: { build: 'wireit', test: 'wireit' },
          wireit: {
            build: { command: buildCmd(i), dependencies: deps[i].map((d) => `../${name(d)}:build`), files: ['src.txt'], output: ['build.out'] },
            test: { command: TEST_CMD, dependencies: ['build'], files: ['build.out'], output: ['test.out'] },
          },
        }),
      );
    }
    break;
  }
}

const outputs = [];
for (let i = 0; i < n; i++) outputs.push(`packages/${name(i)}/build.out`, `packages/${name(i)}/test.out`);
write(
  'manifest.json',
  json({
    generator: 'bench/gen-workspace.mjs',
    tool: opts.tool,
    packages: n,
    width,
    seed: opts.seed,
    tasks: 2 * n,
    deps,
    outputs,
    commands: { uet: 'uet build', turbo: 'turbo run build test', wireit: 'npm run all' },
  }),
);
console.log(`${out}: ${n} packages (${2 * n} tasks) for ${opts.tool}`);
