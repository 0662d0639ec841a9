#!/usr/bin/env node
// A cold CI machine (a fresh copy of a project: no cache/, no .uet/) building against a warm
// shared cache, and the same build with no shared cache. Prints both medians.
//   node bench/remote-cache.mjs [PROJECT_DIR] [RUNS]     (default examples/demo, 7 runs each)
// Starts its own redis-server on a free loopback port (needs the binary), stops it at the end.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = path.resolve(process.argv[2] ?? path.join(repo, 'examples', 'demo'));
const runs = Number(process.argv[3] ?? 7);
const uet = path.join(repo, 'bin', 'uet.js');

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
try {
  for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 50));

  const coldBuild = (remoteUrl) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-bench-remote-'));
    fs.cpSync(project, dir, { recursive: true, filter: (src) => !/[/\\](cache|\.uet|out|dist)$/.test(src) });
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [uet, 'build', '--quiet'], { cwd: dir, env: { ...process.env, UET_REMOTE_CACHE: remoteUrl }, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    fs.rmSync(dir, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
    return { ms, summary: r.stdout.trim().split('\n').pop() };
  };
  console.log(`warming ${url} with ${project}: ${coldBuild(url).summary}`);
  const none = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    none.push(coldBuild('').ms);
    const w = coldBuild(url);
    warm.push(w.ms);
    if (i === 0) console.log(`against warm Redis: ${w.summary}`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`cold machine, no shared cache:   median ${median(none).toFixed(0)} ms (${none.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`cold machine, warm shared cache: median ${median(warm).toFixed(0)} ms (${warm.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  redis.kill('SIGKILL');
}
