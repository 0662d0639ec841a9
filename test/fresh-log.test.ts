import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openFreshLog } from '../lib/cache/fresh-log.js';
import type { SuccessRecord } from '../lib/cache/types.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

const H = 'a'.repeat(64);

function logPath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-fresh-'));
  made.push(dir);
  return path.join(dir, '.uet', 'fresh.log');
}

function rec(taskId: string, key: string, n = 1): SuccessRecord {
  return { taskId, key, outputs: Array.from({ length: n }, (_, i) => ({ path: `out/${taskId}/${i}.js`, hash: H, size: i, mode: 0o644 })), at: 1700000000000 };
}

const lineCount = (p: string): number => fs.readFileSync(p, 'utf8').split('\n').filter((l) => l !== '').length;

test('record, get and invalidate survive reopening', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  assert.is(log.get('a'), undefined);
  log.record(rec('a', 'k1', 2));
  log.record(rec('b', 'k2'));
  log.record(rec('a', 'k3'));
  log.invalidate('b');
  log.invalidate('never-recorded');
  assert.equal(log.get('a'), rec('a', 'k3'));
  assert.is(log.get('b'), undefined);
  await log.close();

  const again = await openFreshLog(p);
  assert.equal(again.get('a'), rec('a', 'k3'));
  assert.is(again.get('b'), undefined);
  assert.is(lineCount(p), 4, 'forgetting an unknown task writes nothing');
  await again.close();
});

test('lines are on disk as soon as record/invalidate return (no close needed)', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  log.record(rec('a', 'k1'));
  const other = await openFreshLog(p);
  assert.equal(other.get('a'), rec('a', 'k1'));
  log.invalidate('a');
  const third = await openFreshLog(p);
  assert.is(third.get('a'), undefined);
  for (const l of [log, other, third]) await l.close();
});

test('survives kill -9 right after invalidate returns', async () => {
  const p = logPath();
  const seed = await openFreshLog(p);
  seed.record(rec('a', 'k1'));
  await seed.close();
  const mod = new URL('../lib/cache/fresh-log.js', import.meta.url).href;
  const script = `const { openFreshLog } = await import(${JSON.stringify(mod)}); const l = await openFreshLog(${JSON.stringify(p)}); l.invalidate('a'); process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  assert.is(r.signal, 'SIGKILL');
  assert.is((await openFreshLog(p)).get('a'), undefined);
});

test('a torn last line is ignored, and the next append does not merge into it', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  log.record(rec('a', 'k1'));
  log.record(rec('b', 'k2'));
  await log.close();
  const full = JSON.stringify({ t: 'c', k: 'k3', o: [], at: 1 });
  fs.appendFileSync(p, full.slice(0, 20)); // the crash cut this line short

  const reopened = await openFreshLog(p);
  assert.equal(reopened.get('a'), rec('a', 'k1'));
  assert.is(reopened.get('c'), undefined);
  reopened.record(rec('d', 'k4'));
  await reopened.close();
  const third = await openFreshLog(p);
  assert.equal(third.get('d'), rec('d', 'k4'));
  assert.equal(third.get('b'), rec('b', 'k2'));
});

test('a garbage line in the middle is skipped and later lines still count', async () => {
  const p = logPath();
  fs.mkdirSync(path.dirname(p), { recursive: true });
  const good = (t: string, k: string | null): string => JSON.stringify(k === null ? { t, k } : { t, k, o: [['x', H, 1, 420]], at: 5 });
  fs.writeFileSync(p, [good('a', 'k1'), '{"t":"a","k":', 'not json', '[1,2]', '{"t":"z","k":"q","o":[["x"]],"at":1}', good('b', 'k2'), good('a', null), good('c', 'k3'), ''].join('\n'));
  const log = await openFreshLog(p);
  assert.is(log.get('a'), undefined, 'the tombstone after the garbage still applies');
  assert.equal(log.get('b'), { taskId: 'b', key: 'k2', outputs: [{ path: 'x', hash: H, size: 1, mode: 420 }], at: 5 });
  assert.ok(log.get('c'));
  assert.is(log.get('z'), undefined, 'a malformed output row rejects the line');
  await log.close();
});

test('close() compacts when dead lines dominate, keeping every live record', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  for (let round = 0; round < 30; round++) for (let i = 0; i < 50; i++) log.record(rec(`t${i}`, `k${round}`));
  for (let i = 0; i < 10; i++) log.invalidate(`t${i}`);
  assert.is(lineCount(p), 1510);
  await log.close();
  assert.is(lineCount(p), 40);
  const again = await openFreshLog(p);
  for (let i = 0; i < 10; i++) assert.is(again.get(`t${i}`), undefined);
  for (let i = 10; i < 50; i++) assert.equal(again.get(`t${i}`), rec(`t${i}`, 'k29'));
  await again.close();
});

test('compact() compacts like close() and stays open: later records land in the compacted file', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  for (let round = 0; round < 30; round++) for (let i = 0; i < 50; i++) log.record(rec(`t${i}`, `k${round}`));
  await log.compact();
  assert.is(lineCount(p), 50);
  log.record(rec('t0', 'after'));
  log.invalidate('t1');
  assert.is(lineCount(p), 52, 'appended to the new file, not the replaced one');
  await log.compact();
  assert.is(lineCount(p), 52, 'nothing worth compacting: left alone');
  await log.close();
  const again = await openFreshLog(p);
  assert.equal(again.get('t0'), rec('t0', 'after'));
  assert.is(again.get('t1'), undefined);
  assert.equal(again.get('t2'), rec('t2', 'k29'));
  await again.close();
});

test('close() leaves a small or mostly live log alone', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  for (let i = 0; i < 600; i++) log.record(rec(`t${i % 100}`, `k${i}`)); // 6x garbage but only 600 lines
  await log.close();
  assert.is(lineCount(p), 600);

  const q = logPath();
  const big = await openFreshLog(q);
  for (let i = 0; i < 1500; i++) big.record(rec(`t${i % 1000}`, `k${i}`)); // over 1000 lines, but 1.5x
  await big.close();
  assert.is(lineCount(q), 1500);
});

test('records are read when asked for: odd ids, untouched lines kept through compaction, a line damaged inside reads as none', async () => {
  const p = logPath();
  const log = await openFreshLog(p);
  const odd = ['q"uote', 'back\\slash', 'ünï/cødé', 'tab\there', 'plain'];
  for (const id of odd) log.record(rec(id, `k-${id}`));
  await log.close();
  const again = await openFreshLog(p);
  for (const id of odd) assert.equal(again.get(id), rec(id, `k-${id}`), id);
  await again.close();

  // a log dominated by dead lines: compaction keeps the lines never read or rewritten exactly
  const q = logPath();
  const big = await openFreshLog(q);
  for (let i = 0; i < 600; i++) big.record(rec(`t${i}`, 'k0'));
  await big.close();
  const before = fs.readFileSync(q, 'utf8').split('\n').filter((l) => l !== '');
  const reopened = await openFreshLog(q);
  assert.equal(reopened.get('t450'), rec('t450', 'k0'), 'one read');
  for (let round = 1; round <= 3; round++) for (let i = 0; i < 300; i++) reopened.record(rec(`t${i}`, `k${round}`));
  assert.is(lineCount(q), 1500);
  await reopened.close();
  const after = fs.readFileSync(q, 'utf8').split('\n').filter((l) => l !== '');
  assert.is(after.length, 600, 'compacted');
  assert.equal(after.slice(0, 300), before.slice(300), 'untouched lines, as they were, in their order');
  const last = await openFreshLog(q);
  assert.equal(last.get('t0'), rec('t0', 'k3'));
  assert.equal(last.get('t599'), rec('t599', 'k0'));
  await last.close();

  // intact at both ends, damaged inside: no record (the task runs again), and the lines after it count
  const r = logPath();
  fs.mkdirSync(path.dirname(r), { recursive: true });
  const good = JSON.stringify({ t: 'a', k: 'k1', o: [['x', H, 1, 420]], at: 5 });
  fs.writeFileSync(r, [good, '{"t":"a","k":"k2","o":[["x",' + '"at":5}', JSON.stringify({ t: 'b', k: 'k3', o: [], at: 6 }), ''].join('\n'));
  const damaged = await openFreshLog(r);
  assert.is(damaged.get('a'), undefined);
  assert.equal(damaged.get('b'), { taskId: 'b', key: 'k3', outputs: [], at: 6 });
  await damaged.close();
});

test('a log searched task by task and a log parsed whole read every line alike', async () => {
  const p = logPath();
  fs.mkdirSync(path.dirname(p), { recursive: true });
  const line = (t: string, k: string | null, at = 5): string => JSON.stringify(k === null ? { t, k } : { t, k, o: [['x', H, 1, 420]], at });
  const lines = [
    line('a', 'k1'),
    line('b', 'k1'),
    line('a', null),
    line('q"uote', 'k1'),
    line('back\\slash', 'k1'),
    line('ünï', 'k1'),
    '{"k":"k9","t":"b","o":[],"at":1}', // valid JSON, but not as uet writes it: not taken
    line('c', 'k1'),
    '{"t":"\\u0063","k":"k9","o":[],"at":1}', // "c" written with an escape: not as uet writes it
    line('d', 'k1'),
    line('d', 'k2').slice(0, 30), // cut short: the line before it counts
    line('e', 'k2'),
    '{"t":"e","k":"k3","o":[["x",' + '"at":5}', // intact ends, damaged inside: no record
    line('ab', 'k1'),
    `garbage ${line('ab', 'k2')}`, // a line's beginning in the middle of a line
  ];
  fs.writeFileSync(p, lines.join('\n'));
  const ids = ['a', 'b', 'q"uote', 'back\\slash', 'ünï', 'c', 'd', 'e', 'ab', 'never'];
  const whole = await openFreshLog(p, 'whole');
  const searched = await openFreshLog(p, 'lazily');
  for (const id of ids) assert.equal(searched.get(id), whole.get(id), id);
  assert.is(whole.get('a'), undefined);
  assert.equal(whole.get('b')?.key, 'k1');
  assert.equal(whole.get('c')?.key, 'k1');
  assert.equal(whole.get('d')?.key, 'k1');
  assert.is(whole.get('e'), undefined);
  assert.equal(whole.get('ab')?.key, 'k1');
  await whole.close();
  await searched.close();
});

test('a searched log keeps what this process wrote, before and after it turns to parsing', async () => {
  const p = logPath();
  const seed = await openFreshLog(p);
  for (let i = 0; i < 100; i++) seed.record(rec(`t${i}`, 'old'));
  await seed.close();

  const log = await openFreshLog(p);
  log.invalidate('t1'); // forgotten while searched: its old line is still in the file as opened
  log.record(rec('t2', 'new'));
  assert.is(log.get('t1'), undefined);
  assert.equal(log.get('t2'), rec('t2', 'new'));
  for (let i = 3; i < 60; i++) assert.equal(log.get(`t${i}`), rec(`t${i}`, 'old'), `t${i}`); // past the searches' bound
  log.invalidate('t3');
  log.record(rec('t4', 'new'));
  assert.is(log.get('t1'), undefined);
  assert.equal(log.get('t2'), rec('t2', 'new'));
  assert.is(log.get('t3'), undefined);
  assert.equal(log.get('t4'), rec('t4', 'new'));
  assert.equal(log.get('t99'), rec('t99', 'old'));
  await log.close();

  const again = await openFreshLog(p);
  for (const [id, key] of [['t1', undefined], ['t2', 'new'], ['t3', undefined], ['t4', 'new'], ['t5', 'old']] as const) assert.is(again.get(id)?.key, key, id);
  await again.close();
});

test('using the log after close() is a bug and throws', async () => {
  const log = await openFreshLog(logPath());
  await log.close();
  await log.close();
  assert.throws(() => log.record(rec('a', 'k')), /after close/);
});

test.run();
