import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ulid } from 'ulid';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireProjectLock } from '../lib/events/lock.js';
import { createRunLog, listRuns, readRun } from '../lib/events/run-log.js';
import type { RunEvent, TaskStatus } from '../lib/events/types.js';

const counts = (over: Partial<Record<TaskStatus, number>> = {}): Record<TaskStatus, number> => ({
  fresh: 0, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0, ...over,
});

function tempUetDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'uet-runlog-')), '.uet');
}

/** A pid that certainly belongs to no running process. */
function deadPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

function lines(runId: string, at: number, pid: number): RunEvent[] {
  return [
    { type: 'run-start', runId, at, targets: ['phase-1'], argv: ['build', 'phase-1'], pid, tasks: 2 },
    { type: 'task-start', runId, at: at + 1, task: 'p/w/a', reason: 'no previous run' },
    { type: 'task-end', runId, at: at + 5, task: 'p/w/a', status: 'ran', durationMs: 4, exitCode: 0 },
    { type: 'task-end', runId, at: at + 6, task: 'p/w/b', status: 'fresh', durationMs: 0 },
  ];
}

function writeRun(uetDir: string, id: string, events: readonly RunEvent[], trailer = ''): void {
  mkdirSync(join(uetDir, 'runs'), { recursive: true });
  writeFileSync(join(uetDir, 'runs', `${id}.jsonl`), events.map((e) => `${JSON.stringify(e)}\n`).join('') + trailer);
}

test('append, read back, list', async () => {
  const uetDir = tempUetDir();
  const log = await createRunLog(uetDir);
  assert.match(log.runId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.is(log.path, join(uetDir, 'runs', `${log.runId}.jsonl`));
  const at = Date.now();
  const events: RunEvent[] = [
    ...lines(log.runId, at, process.pid),
    { type: 'run-end', runId: log.runId, at: at + 10, status: 'success', counts: counts({ ran: 1, fresh: 1 }), durationMs: 10 },
  ];
  events.forEach((e, i) => {
    log.append(e);
    // on disk as soon as append returns, before close
    assert.is(readFileSync(log.path, 'utf8').split('\n').length - 1, i + 1);
  });
  await log.close();
  log.append({ type: 'warning', runId: log.runId, at, message: 'after close: dropped' });

  const read = await readRun(uetDir, log.runId);
  assert.ok(read.ok);
  if (read.ok) assert.equal(read.value, events);

  const runs = await listRuns(uetDir);
  assert.is(runs.length, 1);
  const r = runs[0]!;
  assert.is(r.id, log.runId);
  assert.is(r.status, 'success');
  assert.is(r.startedAt, at);
  assert.is(r.durationMs, 10);
  assert.equal(r.counts, counts({ ran: 1, fresh: 1 }));
  assert.equal(r.targets, ['phase-1']);
  assert.is(r.pid, process.pid);
  assert.is(r.tasks, 2);
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test('20,000 appends are cheap', async () => {
  const uetDir = tempUetDir();
  const log = await createRunLog(uetDir);
  const t0 = performance.now();
  for (let i = 0; i < 20_000; i++) {
    log.append({ type: 'task-end', runId: log.runId, at: Date.now(), task: `phase-2/ws-${i % 50}/task-${i}`, status: 'ran', durationMs: 12.5, exitCode: 0, key: 'f'.repeat(64) });
  }
  const ms = performance.now() - t0;
  await log.close();
  console.log(`    20,000 appends: ${ms.toFixed(1)} ms`);
  assert.ok(ms < 1000, `${ms} ms`); // budget is 100 ms; generous here so a loaded CI box does not flake
  const read = await readRun(uetDir, 'last');
  assert.ok(read.ok && read.value.length === 20_000);
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test('events survive SIGKILL of the writer; the run is incomplete', async () => {
  const uetDir = tempUetDir();
  const runLog = fileURLToPath(new URL('../lib/events/run-log.js', import.meta.url));
  const script = `
    const { createRunLog } = await import(${JSON.stringify(runLog)});
    const log = await createRunLog(${JSON.stringify(uetDir)});
    log.append({ type: 'run-start', runId: log.runId, at: 1000, targets: [], argv: [], pid: process.pid, tasks: 3 });
    log.append({ type: 'task-end', runId: log.runId, at: 1500, task: 'x', status: 'failed', durationMs: 1 });
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  assert.is(r.signal, 'SIGKILL');
  const read = await readRun(uetDir, 'last');
  assert.ok(read.ok);
  if (read.ok) assert.equal(read.value.map((e) => e.type), ['run-start', 'task-end']);
  const [run] = await listRuns(uetDir);
  assert.is(run?.status, 'incomplete');
  assert.equal(run?.counts, counts({ failed: 1 }));
  assert.is(run?.durationMs, 500);
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test('a torn last line is dropped; a bad line in the middle is an error', async () => {
  const uetDir = tempUetDir();
  const id = ulid();
  writeRun(uetDir, id, lines(id, 1000, deadPid()), '{"type":"task-end","runId":"');
  const read = await readRun(uetDir, id);
  assert.ok(read.ok);
  if (read.ok) assert.is(read.value.length, 4);
  const [run] = await listRuns(uetDir);
  assert.is(run?.status, 'incomplete');
  assert.equal(run?.counts, counts({ ran: 1, fresh: 1 }));

  const bad = ulid();
  writeRun(uetDir, bad, lines(bad, 1000, 1));
  appendFileSync(join(uetDir, 'runs', `${bad}.jsonl`), 'garbage\n{"type":"warning","at":1,"runId":"x","message":"m"}\n');
  const r2 = await readRun(uetDir, bad);
  assert.is(r2.ok, false);
  if (!r2.ok) assert.match(r2.error, /:5: not a valid event line/);
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test("'last', prefixes, newest first, limit", async () => {
  const uetDir = tempUetDir();
  assert.equal(await listRuns(uetDir), []);
  const none = await readRun(uetDir, 'last');
  assert.is(none.ok, false);

  const now = Date.now();
  const old = ulid(now - 60_000);
  const mid = ulid(now - 30_000);
  const young = ulid(now);
  for (const [i, id] of [old, mid, young].entries()) {
    writeRun(uetDir, id, [
      ...lines(id, now + i, deadPid()),
      { type: 'run-end', runId: id, at: now + i + 7, status: i === 1 ? 'failed' : 'interrupted', counts: counts({ ran: i }), durationMs: 7 },
    ]);
  }
  writeFileSync(join(uetDir, 'runs', 'notes.txt'), 'not a run');

  const runs = await listRuns(uetDir);
  assert.equal(runs.map((r) => r.id), [young, mid, old]);
  assert.equal(runs.map((r) => r.status), ['interrupted', 'failed', 'interrupted']);
  assert.equal((await listRuns(uetDir, { limit: 1 })).map((r) => r.id), [young]);

  const last = await readRun(uetDir, 'last');
  assert.ok(last.ok && last.value[0]?.runId === young);

  // the three ids share their first time characters but differ within the first 10
  let unique = 1;
  while (old.slice(0, unique) === mid.slice(0, unique) || old.slice(0, unique) === young.slice(0, unique)) unique++;
  const byPrefix = await readRun(uetDir, old.slice(0, unique).toLowerCase());
  assert.ok(byPrefix.ok && byPrefix.value[0]?.runId === old);

  const ambiguous = await readRun(uetDir, old.slice(0, 1));
  assert.is(ambiguous.ok, false);
  if (!ambiguous.ok) assert.match(ambiguous.error, /ambiguous/);
  const unknown = await readRun(uetDir, 'ZZZZ');
  assert.is(unknown.ok, false);
  if (!unknown.ok) assert.match(unknown.error, /no run matches/);
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test('a run without run-end whose process holds the lock is running', async () => {
  const uetDir = tempUetDir();
  const lock = await acquireProjectLock(uetDir, {});
  assert.ok(lock.ok);
  const log = await createRunLog(uetDir);
  lines(log.runId, Date.now(), process.pid).forEach((e) => log.append(e));
  assert.is((await listRuns(uetDir))[0]?.status, 'running');
  if (lock.ok) lock.value.release();
  await log.close();
  assert.is((await listRuns(uetDir))[0]?.status, 'incomplete');
  rmSync(join(uetDir, '..'), { recursive: true, force: true });
});

test.run();
