import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ENTRY_LOG_DIR, EntryLog } from '../lib/cache/entry-log.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function cacheDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-entry-log-'));
  made.push(d);
  return path.join(d, 'cache');
}

function logFiles(dir: string): string[] {
  const folder = path.join(dir, ENTRY_LOG_DIR);
  return fs.existsSync(folder) ? fs.readdirSync(folder).map((n) => path.join(folder, n)) : [];
}

/** the one log holding `key`: the file whose text names it */
function logOf(dir: string, key: string): string {
  const found = logFiles(dir).filter((f) => fs.readFileSync(f, 'utf8').includes(`\t${key}\t`));
  assert.is(found.length, 1, `one log holds ${key}`);
  return found[0] as string;
}

test('set, get, the last value wins, delete hides a key; another reader sees the same', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  assert.not.ok(log.existsSync());
  assert.is(log.get('a'), undefined, 'a miss before any log exists');
  log.set('a', '{"v":1}', 10);
  log.set('b', '{"v":"b"}', 11);
  log.set('a', '{"v":2}', 12);
  assert.ok(log.existsSync());
  assert.equal(log.get('a'), { key: 'a', value: '{"v":2}', time: 12 });
  assert.is(log.delete('b', 13), true);
  assert.is(log.delete('b', 14), false, 'nothing left to delete');
  assert.is(log.delete('never', 14), false);
  assert.is(log.get('b'), undefined);
  const other = new EntryLog(dir);
  assert.equal(other.get('a'), { key: 'a', value: '{"v":2}', time: 12 });
  assert.is(other.get('b'), undefined);
  assert.equal(other.list(), [{ key: 'a', value: '{"v":2}', time: 12 }]);
});

/** `n` keys that share a log with `key` (the log is named by the first byte of the key's sha256) */
function keysBeside(key: string, n: number): string[] {
  const first = (k: string): string => createHash('sha256').update(k).digest('hex').slice(0, 2);
  const found: string[] = [];
  for (let i = 0; found.length < n; i++) if (first(`${key}-${i}`) === first(key)) found.push(`${key}-${i}`);
  return found;
}

test('a reader sees what another appends after it read the log, and a log another compacted', () => {
  const dir = cacheDir();
  const writer = new EntryLog(dir);
  const reader = new EntryLog(dir);
  const [gone, later] = keysBeside('k', 2) as [string, string];
  writer.set('k', '"one"', 1);
  assert.is(reader.get('k')?.value, '"one"');
  writer.set('k', '"two"', 2);
  writer.set(gone, '"soon gone"', 3);
  assert.is(reader.get('k')?.value, '"two"', 'the appended line is read');
  assert.is(reader.get(gone)?.value, '"soon gone"');
  const file = logOf(dir, 'k');
  const readSize = fs.statSync(file).size;
  // rewritten (a new file), then grown past what the reader had read: read again whole, not
  // from the old offset
  writer.compact((r) => r.key === 'k');
  writer.set(later, `"${'x'.repeat(readSize)}"`, 4);
  assert.ok(fs.statSync(file).size > readSize);
  assert.is(reader.get(gone), undefined, 'compacted away');
  assert.is(reader.get('k')?.value, '"two"');
  assert.is(reader.get(later)?.value.length, readSize + 2);
  // rewritten shorter than what the reader had read
  const reader2 = new EntryLog(dir);
  assert.ok(reader2.get(later));
  writer.compact((r) => r.key === 'k');
  assert.is(reader2.get(later), undefined);
  assert.is(reader2.get('k')?.value, '"two"');
});

test('a line whose checksum fails is skipped: the key keeps its earlier value', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  log.set('k', '"first"', 1);
  log.set('k', '"second"', 2);
  const file = logOf(dir, 'k');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('second', 'sekond'));
  assert.is(new EntryLog(dir).get('k')?.value, '"first"');
  // not the log's last line: found by its key, then refused by its checksum
  const [beside] = keysBeside('k', 1) as [string];
  log.set(beside, '"x"', 3);
  const reader = new EntryLog(dir);
  assert.is(reader.get(beside)?.value, '"x"');
  assert.is(reader.get('k')?.value, '"first"');
  assert.is(reader.get(beside)?.value, '"x"', 'and the rest of the log still reads');
});

test('what a writer appended it reads back from the log when asked, checked, not from memory', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  log.set('k', '"one"', 1);
  log.set('k', '"two"', 2);
  assert.equal(log.get('k'), { key: 'k', value: '"two"', time: 2 });
  // altered in place, the same file and size: the writer finds its line no longer checks
  const file = logOf(dir, 'k');
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.lastIndexOf('two')) + 'tw0' + text.slice(text.lastIndexOf('two') + 3));
  assert.is(log.get('k')?.value, '"one"', 'the earlier line, read again');
});

test('a torn last line is skipped, and read once its append has finished', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  log.set('k', '"first"', 1);
  const file = logOf(dir, 'k');
  const whole = fs.readFileSync(file);
  log.set('k', '"second, written in two parts"', 2);
  const line = fs.readFileSync(file).subarray(whole.length);
  // as another process's append would look half-way through
  fs.writeFileSync(file, Buffer.concat([whole, line.subarray(0, 30)]));
  const reader = new EntryLog(dir);
  assert.is(reader.get('k')?.value, '"first"');
  fs.appendFileSync(file, line.subarray(30));
  assert.is(reader.get('k')?.value, '"second, written in two parts"', 'the reader reads the finished line');
});

test('compact keeps what it is told to, drops removals, superseded and damaged lines, and deletes empty logs', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  for (let i = 0; i < 600; i++) log.set(`k${i}`, `"v${i}"`, i);
  for (let i = 0; i < 600; i += 2) log.set(`k${i}`, `"w${i}"`, 1000 + i);
  log.delete('k1', 2000);
  const before = logFiles(dir).reduce((n, f) => n + fs.statSync(f).size, 0);
  const result = log.compact((r) => Number(r.key.slice(1)) < 300);
  assert.equal(result, { kept: 299, dropped: 300 });
  const after = logFiles(dir).reduce((n, f) => n + fs.statSync(f).size, 0);
  assert.ok(after < before / 2, `${after} of ${before} bytes`);
  const fresh = new EntryLog(dir);
  assert.is(fresh.get('k0')?.value, '"w0"');
  assert.is(fresh.get('k3')?.value, '"v3"');
  assert.is(fresh.get('k1'), undefined);
  assert.is(fresh.get('k300'), undefined);
  assert.is(fresh.list().length, 299);
  const lines = logFiles(dir).reduce((n, f) => n + fs.readFileSync(f, 'utf8').split('\n').length - 1, 0);
  assert.is(lines, 299, 'one line per kept key');
  fresh.compact(() => false);
  assert.equal(logFiles(dir), [], 'empty logs are deleted');
  assert.is(log.get('k0'), undefined);
});

test('a log cleared under a long-lived writer is made again on its next write', () => {
  const dir = cacheDir();
  const log = new EntryLog(dir);
  log.set('k', '"v"', 1);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.is(log.get('k'), undefined);
  log.set('k', '"again"', 2);
  assert.is(new EntryLog(dir).get('k')?.value, '"again"');
  log.clear();
  assert.not.ok(log.existsSync());
  assert.is(log.get('k'), undefined);
});

test('keys with tabs or newlines, values with newlines and empty values are refused', () => {
  const log = new EntryLog(cacheDir());
  assert.throws(() => log.set('a\tb', 'v', 1), TypeError);
  assert.throws(() => log.set('a\nb', 'v', 1), TypeError);
  assert.throws(() => log.set('a', 'v\nw', 1), TypeError);
  assert.throws(() => log.set('a', '', 1), TypeError);
});

test.run();
