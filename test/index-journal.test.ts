import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendJournal, readJournal } from '../lib/hash/index-journal.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function journalFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-journal-'));
  made.push(dir);
  return path.join(dir, 'stat-index.journal');
}

const row = (p: string, hash = 'a'.repeat(64)): string => `[${JSON.stringify(p)},1,"100","100","7",420,"${hash}"]`;

test('batches are read back in order, each with the time of its write; the size is the file', () => {
  const file = journalFile();
  const first = appendJournal(file, 'I1', true, [{ row: row('a.txt') }, { removedQuoted: '"b.txt"' }]);
  const second = appendJournal(file, 'I1', false, [{ row: row('quote".txt') }, { row: row('a.txt', 'b'.repeat(64)) }]);
  assert.ok(first !== undefined && second !== undefined && second > first);
  const read = readJournal(file, 'I1');
  assert.ok(read);
  assert.is(read.bytes, fs.statSync(file).size);
  assert.equal(
    read.changes.map((c) => [c.path, c.row]),
    [
      ['a.txt', row('a.txt')],
      ['b.txt', null],
      ['quote".txt', row('quote".txt')],
      ['a.txt', row('a.txt', 'b'.repeat(64))],
    ],
  );
  for (const c of read.changes) assert.match(c.writtenNs, /^\d+$/);
  assert.ok(BigInt(read.changes[0]!.writtenNs) <= BigInt(read.changes[3]!.writtenNs));
  assert.is(BigInt(read.changes[3]!.writtenNs) <= fs.statSync(file, { bigint: true }).mtimeNs, true);
});

test('a journal of another index file, or none, is not read', () => {
  const file = journalFile();
  assert.is(readJournal(file, 'I1'), undefined);
  appendJournal(file, 'I1', true, [{ row: row('a.txt') }]);
  assert.is(readJournal(file, 'I2'), undefined);
  // started again for another index: the old batches are gone with it
  appendJournal(file, 'I2', true, [{ row: row('c.txt') }]);
  assert.equal(readJournal(file, 'I2')?.changes.map((c) => c.path), ['c.txt']);
});

test('a torn batch is lost alone: the batches before and after it count', () => {
  const file = journalFile();
  appendJournal(file, 'I1', true, [{ row: row('a.txt') }]);
  const whole = fs.statSync(file).size;
  appendJournal(file, 'I1', false, [{ row: row('b.txt') }, { row: row('c.txt') }]);
  // cut inside the second batch's rows, as a crash would
  fs.truncateSync(file, whole + 20);
  appendJournal(file, 'I1', false, [{ row: row('d.txt') }]);
  assert.equal(readJournal(file, 'I1')?.changes.map((c) => c.path), ['a.txt', 'd.txt']);
  // a batch whose commit line is lost: its rows never count
  fs.appendFileSync(file, `\nB x.1\n+${row('e.txt')}\n`);
  assert.equal(readJournal(file, 'I1')?.changes.map((c) => c.path), ['a.txt', 'd.txt']);
});

test('a batch whose bytes changed after its checksum is not read', () => {
  const file = journalFile();
  appendJournal(file, 'I1', true, [{ row: row('a.txt') }]);
  appendJournal(file, 'I1', false, [{ row: row('b.txt') }]);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('b.txt', 'x.txt'));
  assert.equal(readJournal(file, 'I1')?.changes.map((c) => c.path), ['a.txt']);
});

test('two processes appending at once: every row read back is one that was written, whole', async () => {
  const file = journalFile();
  appendJournal(file, 'I1', true, [{ row: row('seed.txt') }]);
  const journalModule = new URL('../lib/hash/index-journal.js', import.meta.url).href;
  // each writer appends 1,000 batches of 3 rows, its own paths, as fast as it can, both from the
  // same moment on (a process starts in ~40 ms: one alone would be done before the other began)
  const startAt = Date.now() + 400;
  const writer = (name: string): Promise<number | null> =>
    new Promise((resolve) => {
      const script = `
        const { appendJournal } = await import(${JSON.stringify(journalModule)});
        const row = (p) => '[' + JSON.stringify(p) + ',1,"100","100","7",420,"' + 'c'.repeat(64) + '"]';
        while (Date.now() < ${startAt});
        for (let b = 0; b < 1000; b++) appendJournal(${JSON.stringify(file)}, 'I1', false, [0, 1, 2].map((i) => ({ row: row('${name}/' + b + '-' + i) })));
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
      child.on('close', resolve);
    });
  assert.equal(await Promise.all([writer('a'), writer('b')]), [0, 0]);
  const read = readJournal(file, 'I1');
  assert.ok(read);
  const paths = read.changes.map((c) => c.path);
  assert.is(paths[0], 'seed.txt');
  for (const c of read.changes.slice(1)) {
    assert.match(c.path, /^[ab]\/\d+-[012]$/);
    assert.is(c.row, row(c.path, 'c'.repeat(64)));
  }
  // a batch counts whole or not at all
  const batches = new Map<string, number>();
  for (const p of paths.slice(1)) batches.set(p.replace(/-\d$/, ''), (batches.get(p.replace(/-\d$/, '')) ?? 0) + 1);
  for (const [batch, n] of batches) assert.is(n, 3, batch);
  // and every one counts, wherever the other's writes fell between a batch and its commit
  assert.is(batches.size, 2000);
});

test('a journal that is gone is not started again by an append that expects it', () => {
  const file = journalFile();
  assert.is(appendJournal(file, 'I1', false, [{ row: row('a.txt') }]), undefined);
  assert.not.ok(fs.existsSync(file));
});

test.run();
