import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyBuilder, sha256 } from '../lib/hash/digest.js';
import { createFileHasher } from '../lib/hash/file-hasher.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tmpRoot(): { root: string; index: string; write: (rel: string, data: string | Buffer, mode?: number) => string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-hasher-'));
  made.push(root);
  return {
    root,
    index: path.join(root, '.uet', 'stat-index'),
    write(rel, data, mode) {
      const abs = path.join(root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, data);
      if (mode !== undefined) fs.chmodSync(abs, mode);
      return abs;
    },
  };
}

// The racy rule distrusts files changed within the window before hashing; the tests that need a
// trusted entry use a short window and wait it out, instead of the 2 s default.
const WINDOW = { racyWindowMs: 50 };

test('hashes bytes with sha256 and reports size and permission bits', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'hello\n', 0o755);
  t.write('big.bin', Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  const h = await createFileHasher(t.root, t.index);
  assert.equal(await h.hashFile('a.txt'), { hash: sha('hello\n'), size: 6, mode: 0o755 });
  const big = await h.hashFile('big.bin');
  assert.is(big?.hash, sha(Buffer.alloc(3 * 1024 * 1024 + 17, 7)));
  assert.is(big?.size, 3 * 1024 * 1024 + 17);
  t.write('empty', '');
  assert.is((await h.hashFile('empty'))?.hash, sha(''));
});

test('missing paths, folders and FIFOs are null', async () => {
  const t = tmpRoot();
  fs.mkdirSync(path.join(t.root, 'dir'));
  const h = await createFileHasher(t.root, t.index);
  assert.is(await h.hashFile('nope.txt'), null);
  assert.is(await h.hashFile('dir'), null);
  assert.is(await h.hashFile('nope/deeper.txt'), null);
  if (process.platform !== 'win32') {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(t.root, 'fifo')]);
    assert.is(await h.hashFile('fifo'), null);
  }
});

test('an unchanged file is not read again, in this process or the next', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'one');
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  assert.is((await h1.hashFile('a.txt'))?.hash, sha('one'));
  assert.is((await h1.hashFile('a.txt'))?.hash, sha('one'));
  assert.is(h1.stats.reads, 1);
  assert.is(h1.stats.indexHits, 1);
  await h1.flush();
  assert.ok(fs.existsSync(t.index));

  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  assert.is((await h2.hashFile('a.txt'))?.hash, sha('one'));
  assert.is(h2.stats.reads, 0, 'answered from the persisted index');
  assert.is(h2.stats.indexHits, 1);
});

test('a changed file is read again (size, mtime or inode differ)', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'one');
  await sleep(80);
  const h = await createFileHasher(t.root, t.index, WINDOW);
  await h.hashFile('a.txt');
  t.write('a.txt', 'three');
  assert.is((await h.hashFile('a.txt'))?.hash, sha('three'));
  assert.is(h.stats.reads, 2);
});

test('racy: a file written just before hashing is re-read next time, and a same-tick rewrite is seen', async () => {
  const t = tmpRoot();
  const abs = t.write('a.txt', 'AAAA');
  // whole seconds, which utimes can set exactly
  const tick = Math.floor(Date.now() / 1000);
  fs.utimesSync(abs, tick, tick);
  const h1 = await createFileHasher(t.root, t.index); // default 2 s window
  assert.is((await h1.hashFile('a.txt'))?.hash, sha('AAAA'));
  await h1.flush();
  const before = fs.statSync(abs, { bigint: true });

  // same size, same mtime: only the racy rule (or ctime) can tell
  fs.writeFileSync(abs, 'BBBB');
  fs.utimesSync(abs, tick, tick);
  assert.is(fs.statSync(abs, { bigint: true }).mtimeNs, before.mtimeNs);

  const h2 = await createFileHasher(t.root, t.index);
  assert.is((await h2.hashFile('a.txt'))?.hash, sha('BBBB'));
  assert.is(h2.stats.reads, 1);
});

test('racy: an entry too recent to trust is re-read even when nothing changed at all', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'x');
  const h1 = await createFileHasher(t.root, t.index, { racyWindowMs: 60_000 });
  await h1.hashFile('a.txt');
  await h1.hashFile('a.txt');
  assert.is(h1.stats.reads, 2, 'never trusted within the session either');
  await h1.flush();
  const h2 = await createFileHasher(t.root, t.index, { racyWindowMs: 60_000 });
  await h2.hashFile('a.txt');
  assert.is(h2.stats.reads, 1);
});

test("racy (git's rule): an entry not strictly older than the index write is dropped on load", async () => {
  const t = tmpRoot();
  const abs = t.write('a.txt', 'AAAA');
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  await h1.hashFile('a.txt');
  await h1.flush();
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFile('a.txt');
  assert.is(h2.stats.reads, 0, 'control: trusted while older than the index');

  // the file untouched, the index stamped with the file's own change time: as if written in the same tick
  const st = fs.statSync(abs, { bigint: true });
  const ctimeSecs = Number(st.ctimeNs / 1_000_000n) / 1000; // truncated: never later than the ctime
  fs.utimesSync(t.index, ctimeSecs, ctimeSecs);
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFile('a.txt');
  assert.is(h3.stats.reads, 1);
});

test('a racy entry never looked up is not written back: the next index would vouch for it', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'AAAA');
  await sleep(80);
  const b = t.write('b.txt', 'BBBB');
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  await h1.hashFiles(['a.txt', 'b.txt']);
  await h1.flush();
  // the index stamped with b's change time: b is racy, a (older) is not
  const st = fs.statSync(b, { bigint: true });
  const ctimeSecs = Number(st.ctimeNs / 1_000_000n) / 1000;
  fs.utimesSync(t.index, ctimeSecs, ctimeSecs);
  // this build looks up only a, and writes the index because of a new file
  t.write('c.txt', 'CCCC');
  await sleep(80);
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles(['a.txt', 'c.txt']);
  assert.is(h2.stats.reads, 1, 'c read, a vouched for');
  await h2.flush();
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFiles(['a.txt', 'b.txt', 'c.txt']);
  assert.is(h3.stats.reads, 1, 'b is read again: its racy entry was not carried into the new index');
});

test('rows never looked up survive rewrites as they were, odd paths included; a damaged row costs only itself', async () => {
  const t = tmpRoot();
  const names = ['plain.txt', 'quote".txt', 'back\\slash.txt', 'brackets"],[".txt', 'ünï.txt', 'tab\t.txt'];
  for (const n of names) t.write(n, `content of ${n}\n`);
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  await h1.hashFiles(names);
  assert.is(h1.stats.reads, names.length);
  await h1.flush();
  // rows are written without JSON.stringify: the file must still be JSON, paths escaped
  const written = JSON.parse(fs.readFileSync(t.index, 'utf8')) as { e: unknown[][] };
  assert.equal(written.e.map((row) => row[0]).sort(), [...names].sort());
  // a second build looks up one file and writes the index (a new file): the others' rows are
  // written back without being parsed
  t.write('new.txt', 'new\n');
  await sleep(80);
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles(['plain.txt', 'new.txt']);
  h2.markChanged(); // rewritten whole, not journaled
  await h2.flush();
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  for (const n of names) assert.equal(await h3.hashFile(n), { hash: sha(`content of ${n}\n`), size: Buffer.byteLength(`content of ${n}\n`), mode: fs.statSync(path.join(t.root, n)).mode & 0o777 });
  assert.is(h3.stats.reads, 0, 'every row vouched for its file');
  // damage one row's hash: that file is read again, the others are not
  const text = fs.readFileSync(t.index, 'utf8');
  const damaged = text.replace(sha('content of plain.txt\n'), 'not a hash');
  assert.is.not(damaged, text);
  fs.writeFileSync(t.index, damaged);
  const h4 = await createFileHasher(t.root, t.index, WINDOW);
  await h4.hashFiles([...names, 'new.txt']);
  assert.is(h4.stats.reads, 1);
});

/** `names` written (with `content`), left to age past the racy window, hashed, and the index flushed */
async function indexed(t: ReturnType<typeof tmpRoot>, names: readonly string[], content: (name: string) => string): Promise<void> {
  for (const n of names) t.write(n, content(n));
  await sleep(80);
  const h = await createFileHasher(t.root, t.index, WINDOW);
  await h.hashFiles(names);
  await h.flush();
}

/** the index's text replaced, its write time kept: its rows stay as trusted as they were */
function rewriteIndex(t: ReturnType<typeof tmpRoot>, edit: (text: string) => string): void {
  const mtime = fs.statSync(t.index).mtime;
  fs.writeFileSync(t.index, edit(fs.readFileSync(t.index, 'utf8')));
  fs.utimesSync(t.index, mtime, mtime);
}

test('the index is written sorted by path; every row is found in the next process, and what it forgets is gone', async () => {
  const t = tmpRoot();
  const names = Array.from({ length: 300 }, (_, i) => `d${(i * 37) % 11}/f${(i * 7919) % 1000}.txt`);
  await indexed(t, names, (n) => `content of ${n}\n`);
  const written = JSON.parse(fs.readFileSync(t.index, 'utf8')) as { v: number; e: string[][] };
  assert.is(written.v, 2);
  const paths = written.e.map((row) => row[0] as string);
  assert.equal(paths, [...names].sort(), 'sorted by path');
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles([...names].reverse());
  assert.is(h2.stats.reads, 0, 'every row found where it is');
  h2.forget(names[5]!);
  fs.rmSync(path.join(t.root, names[6]!));
  assert.is(await h2.hashFile(names[6]!), null);
  h2.markChanged(); // rewritten whole, not journaled
  await h2.flush();
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFiles(names.filter((n) => n !== names[6]));
  assert.is(h3.stats.reads, 1, 'only the forgotten file is read again');
  assert.not.ok(fs.readFileSync(t.index, 'utf8').includes(names[6]!), 'the deleted file has no row');
});

test('a row whose path has a broken escape is dropped when the index is rewritten; the others stay', async () => {
  const t = tmpRoot();
  await indexed(t, ['a.txt', 'b.txt', 'c.txt'], (n) => n);
  // \q is no JSON escape: that row's path cannot be read
  rewriteIndex(t, (text) => text.replace('["b.txt"', '["b\\q.txt"'));
  t.write('d.txt', 'd');
  await sleep(80);
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFile('d.txt');
  h2.markChanged(); // rewritten whole, not journaled
  await h2.flush();
  const again = JSON.parse(fs.readFileSync(t.index, 'utf8')) as { e: unknown[][] };
  assert.equal(
    again.e.map((row) => row[0]),
    ['a.txt', 'c.txt', 'd.txt'],
  );
});

test('a flush of a few changes appends them to the journal: the index file stays, and the next process trusts what the journal says', async () => {
  const t = tmpRoot();
  await indexed(t, ['a.txt', 'b.txt', 'c.txt'], (n) => n);
  const before = fs.statSync(t.index, { bigint: true });
  t.write('d.txt', 'd');
  t.write('c.txt', 'c, edited');
  await sleep(80);
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles(['b.txt', 'c.txt', 'd.txt']);
  assert.is(h2.stats.reads, 2, 'control: c and d read');
  fs.rmSync(path.join(t.root, 'a.txt'));
  assert.is(await h2.hashFile('a.txt'), null);
  await h2.flush();
  const after = fs.statSync(t.index, { bigint: true });
  assert.equal([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs], 'the index file is not rewritten');
  const journal = fs.readFileSync(`${t.index}.journal`, 'utf8');
  assert.ok(journal.includes('+["d.txt"') && journal.includes('+["c.txt"') && journal.includes('-"a.txt"'), journal);

  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  assert.equal(await h3.hashFile('c.txt'), { hash: sha('c, edited'), size: 9, mode: fs.statSync(path.join(t.root, 'c.txt')).mode & 0o777 });
  await h3.hashFiles(['b.txt', 'd.txt']);
  assert.is(h3.stats.reads, 0, "the journal's rows vouch for c and d");
  t.write('a.txt', 'a');
  await sleep(80);
  assert.is((await h3.hashFile('a.txt'))?.hash, sha('a'));
  assert.is(h3.stats.reads, 1, "a's row was dropped by the journal");
  // a second batch, after the first: the later row wins
  t.write('d.txt', 'd, edited');
  await sleep(80);
  await h3.hashFile('d.txt');
  await h3.flush();
  const h4 = await createFileHasher(t.root, t.index, WINDOW);
  assert.is((await h4.hashFile('d.txt'))?.hash, sha('d, edited'));
  await h4.hashFiles(['a.txt', 'b.txt', 'c.txt']);
  assert.is(h4.stats.reads, 0);
});

test('the journal is folded into the index once it outgrows its share, and is then gone', async () => {
  const t = tmpRoot();
  await indexed(t, ['a.txt'], (n) => n);
  // ~600 rows of ~150 bytes: more than the 64 KB a small index's journal may hold
  const many = Array.from({ length: 600 }, (_, i) => `many/f${i}.txt`);
  for (const n of many) t.write(n, n);
  await sleep(80);
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles(['a.txt', 'b.txt', 'c.txt']);
  t.write('b.txt', 'b');
  await sleep(80);
  await h2.hashFile('b.txt');
  await h2.flush();
  assert.ok(fs.existsSync(`${t.index}.journal`), 'control: a small change is journaled');
  await h2.hashFiles(many);
  await h2.flush();
  assert.not.ok(fs.existsSync(`${t.index}.journal`), 'folded');
  const rows = (JSON.parse(fs.readFileSync(t.index, 'utf8')) as { e: unknown[][] }).e.map((r) => r[0]);
  assert.equal(rows, ['a.txt', 'b.txt', ...many].sort());
  // the same process journals again, against the index it wrote
  t.write('c.txt', 'c');
  await sleep(80);
  await h2.hashFile('c.txt');
  await h2.flush();
  assert.ok(fs.readFileSync(`${t.index}.journal`, 'utf8').includes('+["c.txt"'));
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFiles(['a.txt', 'b.txt', 'c.txt', ...many]);
  assert.is(h3.stats.reads, 0);
});

test("a journal of another index file is not read; a row not strictly older than its batch's write is dropped (git's rule)", async () => {
  const t = tmpRoot();
  await indexed(t, ['a.txt'], (n) => n);
  const b = t.write('b.txt', 'b');
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  await h1.hashFile('b.txt');
  await h1.flush();
  const journal = fs.readFileSync(`${t.index}.journal`, 'utf8');
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFile('b.txt');
  assert.is(h2.stats.reads, 0, 'control: the journal vouches for b');

  // the batch stamped with b's own change time, as if written in the same tick
  const ctimeNs = fs.statSync(b, { bigint: true }).ctimeNs;
  fs.writeFileSync(`${t.index}.journal`, journal.replace(/^C (\S+) \d+ /m, `C $1 ${ctimeNs} `));
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFile('b.txt');
  assert.is(h3.stats.reads, 1, 'racy');

  // the index rewritten (a new file, without b) and the old journal put back: it no longer counts
  fs.rmSync(`${t.index}.journal`);
  const h4 = await createFileHasher(t.root, t.index, WINDOW);
  await h4.hashFile('a.txt');
  h4.markChanged();
  await h4.flush();
  fs.writeFileSync(`${t.index}.journal`, journal);
  const h5 = await createFileHasher(t.root, t.index, WINDOW);
  await h5.hashFile('b.txt');
  assert.is(h5.stats.reads, 1, 'b is only in the old journal');
});

test('an index of version 1 (rows in any order) is still read, and written sorted', async () => {
  const t = tmpRoot();
  const names = ['b.txt', 'a.txt', 'c/d.txt'];
  await indexed(t, names, (n) => n);
  rewriteIndex(t, (text) => JSON.stringify({ v: 1, e: [...(JSON.parse(text) as { e: unknown[][] }).e].reverse() }));
  const h2 = await createFileHasher(t.root, t.index, WINDOW);
  await h2.hashFiles(names);
  assert.is(h2.stats.reads, 0, 'the version 1 rows vouch for their files');
  await h2.flush();
  const again = JSON.parse(fs.readFileSync(t.index, 'utf8')) as { v: number; e: unknown[][] };
  assert.is(again.v, 2, 'rewritten although nothing changed');
  assert.equal(
    again.e.map((row) => row[0]),
    ['a.txt', 'b.txt', 'c/d.txt'],
  );
  const h3 = await createFileHasher(t.root, t.index, WINDOW);
  await h3.hashFiles(names);
  assert.is(h3.stats.reads, 0, 'and found again');
});

test('a deleted file is null and drops its entry', async () => {
  const t = tmpRoot();
  const abs = t.write('a.txt', 'one');
  await sleep(80);
  const h = await createFileHasher(t.root, t.index, WINDOW);
  assert.ok(await h.hashFile('a.txt'));
  fs.rmSync(abs);
  assert.is(await h.hashFile('a.txt'), null);
  await h.flush();
  assert.not.ok(fs.readFileSync(t.index, 'utf8').includes('a.txt'));
});

test('forget() makes the next call read the file', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'one');
  await sleep(80);
  const h = await createFileHasher(t.root, t.index, WINDOW);
  await h.hashFile('a.txt');
  h.forget('a.txt');
  await h.hashFile('a.txt');
  assert.is(h.stats.reads, 2);
});

test('a truncated or garbage index is treated as empty', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'one');
  await sleep(80);
  const h1 = await createFileHasher(t.root, t.index, WINDOW);
  await h1.hashFile('a.txt');
  await h1.flush();
  const full = fs.readFileSync(t.index);
  for (const bad of [full.subarray(0, Math.floor(full.length / 2)), Buffer.from('\0\0garbage'), Buffer.from('null'), Buffer.from('{"v":1,"e":null}'), Buffer.from('{"v":1,"e":[["a.txt",1,"x"]]}'), Buffer.alloc(0)]) {
    fs.writeFileSync(t.index, bad);
    const h = await createFileHasher(t.root, t.index, WINDOW);
    assert.is((await h.hashFile('a.txt'))?.hash, sha('one'));
    assert.is(h.stats.reads, 1);
  }
});

test('flush writes only when something changed, and creates the index folder', async () => {
  const t = tmpRoot();
  t.write('a.txt', 'one');
  await sleep(80);
  const h = await createFileHasher(t.root, t.index, WINDOW);
  await h.flush();
  assert.not.ok(fs.existsSync(t.index), 'nothing to write yet');
  await h.hashFile('a.txt');
  await h.flush();
  const m1 = fs.statSync(t.index).mtimeMs;
  await sleep(20);
  await h.hashFile('a.txt');
  await h.flush();
  assert.is(fs.statSync(t.index).mtimeMs, m1, 'an index hit does not rewrite the index');
});

test('hashFiles: many files, duplicates, order kept, missing as null', async () => {
  const t = tmpRoot();
  const rels: string[] = [];
  for (let i = 0; i < 300; i++) {
    t.write(`d${i % 7}/f${i}.txt`, `content ${i}`);
    rels.push(`d${i % 7}/f${i}.txt`);
  }
  const h = await createFileHasher(t.root, t.index, { concurrency: 8 });
  const res = await h.hashFiles([...rels, 'missing', rels[0] as string]);
  assert.equal([...res.keys()], [...rels, 'missing']);
  assert.is(res.get('missing'), null);
  for (let i = 0; i < 300; i++) assert.is(res.get(rels[i] as string)?.hash, sha(`content ${i}`));
});

test('a symlink to a file hashes its target', async () => {
  if (process.platform === 'win32') return;
  const t = tmpRoot();
  t.write('real.txt', 'target');
  fs.symlinkSync('real.txt', path.join(t.root, 'link.txt'));
  fs.symlinkSync('nowhere', path.join(t.root, 'dangling'));
  const h = await createFileHasher(t.root, t.index);
  assert.is((await h.hashFile('link.txt'))?.hash, sha('target'));
  assert.is(await h.hashFile('dangling'), null);
});

test('digest: sha256 hex, and KeyBuilder frames parts unambiguously', () => {
  assert.is(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.is(sha256(Buffer.from('abc')), sha256('abc'));
  const key = (...parts: [string, string][]): string => parts.reduce((b, [l, v]) => b.add(l, v), new KeyBuilder()).digest();
  assert.is(key(['a', 'bc']), key(['a', 'bc']));
  assert.is.not(key(['a', 'bc']), key(['ab', 'c']));
  assert.is.not(key(['cmd', 'x'], ['env', '']), key(['cmd', 'x'], ['env', ''], ['env', '']));
  assert.is.not(key(['f', 'a'], ['f', 'b']), key(['f', 'b'], ['f', 'a']), 'order is part of the key');
  assert.is.not(key(['x', '']), key(['', 'x']));
  const b = new KeyBuilder().add('a', 'b');
  b.digest();
  assert.throws(() => b.add('c', 'd'));
});

test('KeyBuilder hashes each part as its byte length (8 bytes, big-endian) then its UTF-8 bytes: keys stored by earlier builds stay valid', () => {
  const framed = (parts: Array<string | Uint8Array>): Buffer =>
    Buffer.concat(
      parts.flatMap((p) => {
        const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p);
        const len = Buffer.alloc(8);
        len.writeBigUInt64BE(BigInt(bytes.length));
        return [len, bytes];
      }),
    );
  const long = 'é☃'.repeat(70000); // a length past 2^16 and 2^8 in every byte of the low word
  const parts: Array<[string, string | Uint8Array]> = [['a', 'bc'], ['é', Buffer.from([1, 2, 255])], ['empty', ''], ['long', long]];
  const built = parts.reduce((k, [l, v]) => k.add(l, v), new KeyBuilder()).digest();
  assert.is(built, sha256(framed(parts.flat())));
});

test.run();
