#!/usr/bin/env node
// What `isolation: worktree` costs: the same 3-workstream phase built with and without worktrees.
//
//   npm run build && node bench/worktree-cost.mjs [--files N] [--bytes B] [--runs R]
//
// A git repository of N tracked files of B bytes each (default 2000 × 2048 B: a 4 MB tree) holds
// one phase of 3 workstreams; each workstream edits one file of its own (an edit task) and checks
// it (a static task with inputs), and a gate needs the checks. Variant `none` runs them in the
// main checkout; variant `worktree` gives each its own worktree and merges the 3 branches after the
// gate (the gate is re-run after each merge). For each variant and run, a fresh repository:
//   cold   the first build (nothing recorded, empty cache)
//   no-op  the second build (everything fresh; the worktree variant still makes and removes 3 worktrees)
// Reported: the median wall time of R runs (default 3), and the disk a worktree takes (du of one
// `git worktree add` of the same tree) against the checkout's size.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UET = path.join(repoRoot, 'bin', 'uet.js');
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const FILES = Number(args.files ?? 2000);
const BYTES = Number(args.bytes ?? 2048);
const RUNS = Number(args.runs ?? 3);

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  GIT_CONFIG_GLOBAL: os.devNull,
  GIT_CONFIG_NOSYSTEM: '1',
};
const git = (dir, ...a) => execFileSync('git', a, { cwd: dir, env: gitEnv, encoding: 'utf8' });

function phaseYaml(isolation) {
  const ws = ['a', 'b', 'c']
    .map(
      (id) => `  - id: ${id}
    isolation: ${isolation}
    files_scope: { write: ["ws-${id}/**"] }
    tasks:
      - id: edit
        kind: edit
        run: "printf 'edited by ${id}\\\\n' > ws-${id}/file.txt"
        inputs: []
      - id: check
        kind: static
        run: "grep -q edited ws-${id}/file.txt"
        inputs: ["ws-${id}/**"]
`,
    )
    .join('');
  return `id: p\ngates:\n  - id: GATE_CHECK\n    type: static\n    needs: { kind: static }\n    run: "cat ws-a/file.txt ws-b/file.txt ws-c/file.txt"\nworkstreams:\n${ws}`.replace('type: static', 'type: custom');
}

function makeRepo(isolation) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `uet-wtbench-${isolation}-`)));
  const blob = 'x'.repeat(BYTES - 1) + '\n';
  for (let i = 0; i < FILES; i++) {
    const sub = path.join(dir, 'tree', String(i % 50));
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `${i}.txt`), `${i}\n${blob}`.slice(0, BYTES));
  }
  for (const id of ['a', 'b', 'c']) {
    fs.mkdirSync(path.join(dir, `ws-${id}`));
    fs.writeFileSync(path.join(dir, `ws-${id}`, 'file.txt'), 'original\n');
  }
  fs.mkdirSync(path.join(dir, 'phases'));
  fs.writeFileSync(path.join(dir, 'uet.config.yaml'), 'version: 1\n');
  fs.writeFileSync(path.join(dir, 'phases', 'p.yaml'), phaseYaml(isolation));
  fs.writeFileSync(path.join(dir, '.gitignore'), '.uet/\ncache/\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

function timeBuild(dir) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [UET, 'build', '--quiet'], { cwd: dir, env: gitEnv, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`uet build failed in ${dir}:\n${r.stdout}${r.stderr}`);
  return ms;
}

function duKb(p) {
  return Number(execFileSync('du', ['-sk', p], { encoding: 'utf8' }).split('\t')[0]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = {};
for (const isolation of ['none', 'worktree']) {
  const cold = [];
  const noop = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = makeRepo(isolation);
    try {
      cold.push(timeBuild(dir));
      noop.push(timeBuild(dir));
      if (isolation === 'worktree' && git(dir, 'rev-list', '--count', 'HEAD') !== '7\n') throw new Error('expected 3 workstream commits and 3 merges');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  results[isolation] = { cold: median(cold), noop: median(noop) };
}

// Disk: one worktree of the same tree, made the way uet makes it.
const dir = makeRepo('worktree');
let disk;
try {
  const checkoutKb = duKb(dir) - duKb(path.join(dir, '.git'));
  const before = duKb(path.join(dir, '.git'));
  git(dir, 'worktree', 'add', '-q', '-B', 'uet/p/a', path.join(dir, '.uet', 'worktrees', 'p', 'a'), 'HEAD');
  const worktreeKb = duKb(path.join(dir, '.uet', 'worktrees', 'p', 'a'));
  const metaKb = duKb(path.join(dir, '.git')) - before;
  disk = { checkoutKb, worktreeKb, metaKb };
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const f = (ms) => `${ms.toFixed(0)} ms`;
console.log(`tree: ${FILES} files × ${BYTES} B; ${RUNS} runs each; median wall time of \`uet build\` (node ${process.version}, git ${git(repoRoot, '--version').trim().split(' ')[2]}, ${os.cpus().length} CPUs)`);
console.log(`                 isolation: none   isolation: worktree   extra`);
console.log(`cold build       ${f(results.none.cold).padEnd(17)} ${f(results.worktree.cold).padEnd(21)} +${f(results.worktree.cold - results.none.cold)}`);
console.log(`no-op build      ${f(results.none.noop).padEnd(17)} ${f(results.worktree.noop).padEnd(21)} +${f(results.worktree.noop - results.none.noop)}`);
console.log(`disk: checkout ${disk.checkoutKb} KB; one worktree ${disk.worktreeKb} KB + ${disk.metaKb} KB in .git; 3 workstreams at once: ${3 * (disk.worktreeKb + disk.metaKb)} KB while the phase runs, 0 after (worktrees are removed)`);
