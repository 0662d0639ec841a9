import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireProjectLock, readLockHolder, type LockHolder } from '../lib/events/lock.js';

const lockModule = fileURLToPath(new URL('../lib/events/lock.js', import.meta.url));

function tempUetDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'uet-lock-')), '.uet');
  mkdirSync(dir);
  return dir;
}

function cleanup(uetDir: string): void {
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
}

function deadPid(): number {
  return Number(spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim());
}

/** Run an ES module script in a fresh node process; `LOCK` is the lock module's path. */
function node(script: string): ChildProcess {
  const source = `const LOCK = ${JSON.stringify(lockModule)};\n${script}`;
  return spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve(buf.slice(0, nl));
    });
    child.once('exit', () => reject(new Error(`exited before printing: ${buf}`)));
  });
}

test('a second acquirer waits, is told who holds the lock, and proceeds after release', async () => {
  const uetDir = tempUetDir();
  const holder = node(`
    const { acquireProjectLock } = await import(LOCK);
    const lock = await acquireProjectLock(${JSON.stringify(uetDir)}, {});
    if (!lock.ok) { console.log('error ' + lock.error); process.exit(1); }
    console.log('locked');
    setTimeout(() => { lock.value.release(); console.log('released'); }, 400);`);
  assert.is(await firstLine(holder), 'locked');
  assert.is(readLockHolder(uetDir)?.pid, holder.pid);

  const waits: LockHolder[] = [];
  const t0 = Date.now();
  const lock = await acquireProjectLock(uetDir, { onWait: (h) => waits.push(h), pollMs: 20 });
  assert.ok(lock.ok);
  assert.ok(Date.now() - t0 >= 250, 'did not wait for the holder');
  assert.is(waits.length, 1);
  assert.is(waits[0]?.pid, holder.pid);
  assert.is(waits[0]?.hostname, hostname());
  assert.ok((waits[0]?.command ?? '').length > 0);
  assert.is(readLockHolder(uetDir)?.pid, process.pid);
  if (lock.ok) lock.value.release();
  assert.is(existsSync(join(uetDir, 'lock')), false);
  await exited(holder);
  cleanup(uetDir);
});

test('a lock naming a dead pid is taken over at once', async () => {
  const uetDir = tempUetDir();
  const stale: LockHolder = { pid: deadPid(), hostname: hostname(), startedAt: Date.now() - 1000, command: 'uet build' };
  writeFileSync(join(uetDir, 'lock'), JSON.stringify(stale));
  let waited = false;
  const t0 = Date.now();
  const lock = await acquireProjectLock(uetDir, { onWait: () => (waited = true) });
  assert.ok(lock.ok);
  assert.ok(Date.now() - t0 < 100);
  assert.is(waited, false);
  assert.is(readLockHolder(uetDir)?.pid, process.pid);
  if (lock.ok) lock.value.release();
  cleanup(uetDir);
});

test('a lock left by an earlier process with our own pid is taken over', async () => {
  const uetDir = tempUetDir();
  writeFileSync(join(uetDir, 'lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 1, command: 'uet build' }));
  const lock = await acquireProjectLock(uetDir, { onWait: () => assert.unreachable('waited') });
  assert.ok(lock.ok);
  // and acquiring again in the same process is an error, not a deadlock
  const again = await acquireProjectLock(uetDir, {});
  assert.is(again.ok, false);
  if (lock.ok) lock.value.release();
  cleanup(uetDir);
});

test('garbage: waited on while young (a holder mid-write), taken over when old', async () => {
  const uetDir = tempUetDir();
  const path = join(uetDir, 'lock');
  writeFileSync(path, '');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 250);
  const young = await acquireProjectLock(uetDir, { pollMs: 20, signal: ac.signal });
  assert.is(young.ok, false);
  const old = (Date.now() - 10_000) / 1000;
  utimesSync(path, old, old);
  const lock = await acquireProjectLock(uetDir, {});
  assert.ok(lock.ok);
  if (lock.ok) lock.value.release();
  cleanup(uetDir);
});

test('release removes only our own lock', async () => {
  const uetDir = tempUetDir();
  const path = join(uetDir, 'lock');
  const lock = await acquireProjectLock(uetDir, {});
  assert.ok(lock.ok);
  const other = JSON.stringify({ pid: 1, hostname: 'elsewhere', startedAt: 1, command: 'x' });
  writeFileSync(path, other);
  if (lock.ok) lock.value.release();
  assert.is(readFileSync(path, 'utf8'), other);
  cleanup(uetDir);
});

test('an AbortSignal ends the wait with an error naming the holder', async () => {
  const uetDir = tempUetDir();
  writeFileSync(join(uetDir, 'lock'), JSON.stringify({ pid: 1, hostname: 'another-host', startedAt: Date.now(), command: 'uet watch' }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  let seen: LockHolder | undefined;
  const r = await acquireProjectLock(uetDir, { signal: ac.signal, pollMs: 10, onWait: (h) => (seen = h) });
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.error, /another-host/);
  assert.is(seen?.command, 'uet watch');
  cleanup(uetDir);
});

/** `workers` processes each add 1 to a counter file `times` times, read-modify-write under the lock. */
async function counterRace(uetDir: string, workers: number, times: number): Promise<number> {
  const counter = join(uetDir, 'counter');
  writeFileSync(counter, '0');
  const children = Array.from({ length: workers }, () =>
    node(`
      import { readFileSync, writeFileSync } from 'node:fs';
      const { acquireProjectLock } = await import(LOCK);
      for (let i = 0; i < ${times}; i++) {
        const lock = await acquireProjectLock(${JSON.stringify(uetDir)}, { pollMs: 2 });
        if (!lock.ok) { console.error(lock.error); process.exit(1); }
        const n = Number(readFileSync(${JSON.stringify(counter)}, 'utf8'));
        await new Promise((r) => setImmediate(r)); // widen the window a race would need
        writeFileSync(${JSON.stringify(counter)}, String(n + 1));
        lock.value.release();
      }`),
  );
  const codes = await Promise.all(children.map(exited));
  assert.equal(codes, children.map(() => 0));
  return Number(readFileSync(counter, 'utf8'));
}

test('two processes incrementing a counter 50 times each under the lock end at 100', async () => {
  const uetDir = tempUetDir();
  assert.is(await counterRace(uetDir, 2, 50), 100);
  assert.is(existsSync(join(uetDir, 'lock')), false);
  cleanup(uetDir);
});

test('four processes racing over a stale lock: exactly one takes it over at a time', async () => {
  const uetDir = tempUetDir();
  writeFileSync(join(uetDir, 'lock'), JSON.stringify({ pid: deadPid(), hostname: hostname(), startedAt: 1, command: 'uet build' }));
  assert.is(await counterRace(uetDir, 4, 10), 40);
  assert.is(existsSync(join(uetDir, 'lock')), false);
  assert.is(existsSync(join(uetDir, 'lock.takeover')), false);
  cleanup(uetDir);
});

test.run();
