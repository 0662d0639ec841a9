#!/usr/bin/env node
// Latency of `uet watch` from a file write to the start of the task that reads it, and the CPU
// it uses while idle.
//
//   node bench/watch-latency.mjs [--tasks 1000] [--edits 100] [--idle 10] [--dir DIR] [--seed 7]
//
// Generates a graph with bench/gen.mjs (into DIR, default a fresh temp folder), sets
// `watch: { debounce: 0 }`, starts `uet watch --json`, waits for the first build, then edits
// `--edits` sources one at a time (random tasks, seeded): for each, the time from just before
// the write to the moment the task's `task-start` event arrives on stdout; it waits for the
// session to be idle again before the next edit. Then it samples the watch process's CPU time
// (utime + stime of all its threads, from /proc) over `--idle` seconds of quiet.
// Needs `npm run build` first. Linux only (reads /proc).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const tasks = Number(opt('tasks', '1000'));
const edits = Number(opt('edits', '100'));
const idleSeconds = Number(opt('idle', '10'));
let seed = Number(opt('seed', '7'));
const dir = opt('dir', fs.mkdtempSync(path.join(os.tmpdir(), 'uet-watch-bench-')));

execFileSync(process.execPath, [path.join(repo, 'bench', 'gen.mjs'), '--tasks', String(tasks), '--out', dir], { stdio: 'inherit' });
fs.appendFileSync(path.join(dir, 'uet.config.yaml'), 'watch: { debounce: 0 }\n');
const taskDigits = String(tasks - 1).length;
const taskSuffix = (i) => `/t${String(i).padStart(taskDigits, '0')}`;

const child = spawn(process.execPath, [path.join(repo, 'bin', 'uet.js'), 'watch', '--json'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
let buffer = '';
const waiters = [];
child.stdout.setEncoding('utf8').on('data', (chunk) => {
  const now = performance.now();
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    for (const w of [...waiters]) {
      if (w.match(ev)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(now);
      }
    }
  }
});
const next = (match, what) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 120_000);
    waiters.push({ match, resolve: (t) => (clearTimeout(timer), resolve(t)) });
  });

function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

try {
  const t0 = performance.now();
  await next((ev) => ev.type === 'watch-idle', 'the first build');
  console.log(`first build of ${tasks} tasks: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const latencies = [];
  for (let n = 0; n < edits; n++) {
    const i = Math.floor(random() * tasks);
    const started = next((ev) => ev.type === 'task-start' && ev.task.endsWith(taskSuffix(i)), `task ${i} to start`);
    const idle = next((ev) => ev.type === 'watch-idle', 'idle');
    const before = performance.now();
    fs.writeFileSync(path.join(dir, 'src', `${i}.txt`), `source ${i} edit ${n}\n`);
    latencies.push((await started) - before);
    await idle;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];
  console.log(`write → task start over ${edits} edits (debounce 0): median ${pct(50).toFixed(1)} ms, p95 ${pct(95).toFixed(1)} ms, min ${latencies[0].toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms`);

  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const a = cpuTicks(child.pid);
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const b = cpuTicks(child.pid);
  const cpuMs = ((b - a) / hz) * 1000;
  console.log(`idle: ${cpuMs.toFixed(0)} ms of CPU in ${idleSeconds} s (${((cpuMs / (idleSeconds * 1000)) * 100).toFixed(2)} % of one core)`);
} finally {
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  if (opt('dir', undefined) === undefined) fs.rmSync(dir, { recursive: true, force: true });
}
