import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import cacache from 'cacache';
import Keyv from 'keyv';
import { insertIndexSync, readContentSync, readIndexSync, writeContentSync } from '../lib/cache/cacache-sync.js';
import { ENTRY_LOG_DIR } from '../lib/cache/entry-log.js';
import { dropBrokenEntries, prune } from '../lib/cache/lru.js';
import { ENTRY_NAMESPACE, EntryLogKeyvStore, INLINE_FILE_MAX, openCacheStore, parseStoredEntry, verifyStore } from '../lib/cache/store.js';
import { CACHE_FORMAT_VERSION, type CacheEntry, type OutputFile } from '../lib/cache/types.js';
import { integrityOf } from '../lib/hash/digest.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

interface Fixture {
  readonly base: string;
  readonly root: string;
  readonly cacheDir: string;
  write(rel: string, data: string | Buffer, mode?: number): OutputFile;
}

function fixture(): Fixture {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-cache-'));
  made.push(base);
  const root = path.join(base, 'project');
  fs.mkdirSync(root);
  return {
    base,
    root,
    cacheDir: path.join(base, 'cache'),
    write(rel, data, mode = 0o644) {
      const abs = path.join(root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, data);
      fs.chmodSync(abs, mode);
      const bytes = fs.readFileSync(abs);
      return { path: rel, hash: sha(bytes), size: bytes.length, mode };
    },
  };
}

/** every file under dir, root-relative, with contents */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[`${r}/`] = '';
        walk(r);
      } else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out;
}

function contentFiles(cacheDir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else found.push(p);
    }
  };
  walk(path.join(cacheDir, 'content-v2'));
  return found;
}

test('put, get and restore round-trip contents, modes and the log', async () => {
  const f = fixture();
  const outs = [f.write('dist/app.js', 'console.log(1)\n'), f.write('dist/bin/run', '#!/bin/sh\necho hi\n', 0o755), f.write('empty.txt', '')];
  const store = await openCacheStore(f.cacheDir);
  const put = await store.put('k1', 'p/ws/build', f.root, outs, 'build log\n');
  assert.ok(put.ok, JSON.stringify(put));

  const entry = await store.get('k1');
  assert.ok(entry);
  assert.is(entry.formatVersion, CACHE_FORMAT_VERSION);
  assert.is(entry.key, 'k1');
  assert.is(entry.taskId, 'p/ws/build');
  assert.equal(entry.outputs, outs);
  assert.is(entry.logHash, sha('build log\n'));
  assert.is(await store.readLog(entry), 'build log\n');

  const other = path.join(f.base, 'elsewhere');
  fs.mkdirSync(path.join(other, 'dist'), { recursive: true });
  fs.writeFileSync(path.join(other, 'dist/app.js'), 'stale');
  const restored = await store.restore(entry, other);
  assert.ok(restored.ok, JSON.stringify(restored));
  assert.equal(snapshot(other), { 'dist/': '', 'dist/app.js': 'console.log(1)\n', 'dist/bin/': '', 'dist/bin/run': '#!/bin/sh\necho hi\n', 'empty.txt': '' });
  assert.is(fs.statSync(path.join(other, 'dist/bin/run')).mode & 0o777, 0o755);
  assert.is(fs.statSync(path.join(other, 'dist/app.js')).mode & 0o777, 0o644);
});

test('an unknown key is a miss; delete and clear remove entries', async () => {
  const f = fixture();
  const store = await openCacheStore(f.cacheDir);
  assert.is(await store.get('nope'), undefined);
  const out = f.write('a.txt', 'a');
  assert.ok((await store.put('k1', 't', f.root, [out], '')).ok);
  assert.ok((await store.put('k2', 't', f.root, [out], '')).ok);
  await store.delete('k1');
  assert.is(await store.get('k1'), undefined);
  assert.ok(await store.get('k2'));
  await store.clear();
  assert.is(await store.get('k2'), undefined);
  assert.ok((await store.put('k3', 't', f.root, [out], '')).ok, 'usable after clear');
});

test('a corrupted blob fails restore, writes nothing, and can be stored again', async () => {
  const f = fixture();
  const good = f.write('out/good.txt', 'good content');
  // larger than INLINE_FILE_MAX: a blob of its own, not bytes kept in the entry
  const rotting = 'this blob will rot\n'.repeat(300);
  const bad = f.write('out/deep/bad.txt', rotting);
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [good, bad], 'log')).ok);
  const entry = await store.get('k');
  assert.ok(entry);

  const badIntegrity = Buffer.from(bad.hash, 'hex').toString('hex');
  const blobFile = contentFiles(f.cacheDir).find((p) => p.split(path.sep).slice(-3).join('') === badIntegrity);
  assert.ok(blobFile, 'found the content file of the blob');
  const bytes = fs.readFileSync(blobFile);
  bytes[0] = (bytes[0] as number) ^ 0xff;
  fs.chmodSync(blobFile, 0o644);
  fs.writeFileSync(blobFile, bytes);

  const target = path.join(f.base, 'restore-here');
  fs.mkdirSync(target);
  const res = await store.restore(entry, target);
  assert.not.ok(res.ok);
  if (!res.ok) assert.is(res.error.reason, 'corrupt');
  assert.equal(snapshot(target), {}, 'no file, temp file or folder left behind');

  // the rotten copy was evicted: putting the same output again heals the cache
  assert.ok((await store.put('k', 't', f.root, [good, bad], 'log')).ok);
  const healed = await store.restore(entry, target);
  assert.ok(healed.ok, JSON.stringify(healed));
  assert.is(fs.readFileSync(path.join(target, 'out/deep/bad.txt'), 'utf8'), rotting);
});

test('small outputs are kept in their entry, without a blob; larger ones are blobs', async () => {
  const f = fixture();
  const small = f.write('out/small.txt', 'tiny\n', 0o755);
  const same = f.write('out/copy.txt', 'tiny\n', 0o755);
  const edge = f.write('out/edge.bin', Buffer.alloc(INLINE_FILE_MAX, 7));
  const large = f.write('out/large.bin', Buffer.alloc(INLINE_FILE_MAX + 1, 7));
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [small, same, edge, large], '')).ok);
  const entry = await store.get('k');
  assert.ok(entry);
  // the outputs up to INLINE_FILE_MAX, and the (empty) log
  assert.equal(Object.keys(entry.inline ?? {}).sort(), [small.hash, edge.hash, sha('')].sort());
  const blobs = contentFiles(f.cacheDir).map((p) => p.split(path.sep).slice(-3).join(''));
  assert.ok(blobs.includes(large.hash), 'the large output is a blob');
  assert.not.ok(blobs.includes(small.hash) || blobs.includes(edge.hash), 'the small ones are not');
  const target = path.join(f.base, 'restored');
  const restored = await store.restore(entry, target);
  assert.ok(restored.ok, JSON.stringify(restored));
  assert.is(fs.readFileSync(path.join(target, 'out/copy.txt'), 'utf8'), 'tiny\n');
  assert.is(fs.statSync(path.join(target, 'out/small.txt')).mode & 0o777, 0o755);
  assert.ok(fs.readFileSync(path.join(target, 'out/edge.bin')).equals(Buffer.alloc(INLINE_FILE_MAX, 7)));
  assert.ok(fs.readFileSync(path.join(target, 'out/large.bin')).equals(Buffer.alloc(INLINE_FILE_MAX + 1, 7)));
});

test('a small log is kept in its entry, a large one is a blob; a kept log that does not match its hash is not read', async () => {
  const f = fixture();
  const out = f.write('o.txt', 'o\n');
  const store = await openCacheStore(f.cacheDir);
  const longLog = 'line of a chatty compiler\n'.repeat(400);
  assert.ok((await store.put('short', 't', f.root, [out], 'short log\n')).ok);
  assert.ok((await store.put('long', 't', f.root, [out], longLog)).ok);
  const short = await store.get('short');
  const long = await store.get('long');
  assert.ok(short && long);
  const blobs = contentFiles(f.cacheDir).map((p) => p.split(path.sep).slice(-3).join(''));
  assert.not.ok(blobs.includes(short.logHash), 'the short log has no blob');
  assert.ok(blobs.includes(long.logHash), 'the long one has');
  assert.is(await store.readLog(short), 'short log\n');
  assert.is(await store.readLog(long), longLog);
  assert.is(await store.readLog({ ...short, inline: { ...short.inline, [short.logHash]: Buffer.from('forged\n').toString('base64') } }), undefined);
});

test('kept bytes that do not match their hash fail restore, write nothing, and drop the entry', async () => {
  const f = fixture();
  const good = f.write('out/good.txt', 'good\n');
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [good], '')).ok);
  const entry = await store.get('k');
  assert.ok(entry);
  // an entry written wrong (its line's own checksum is fine)
  const keyv = new Keyv(new EntryLogKeyvStore(f.cacheDir), { namespace: ENTRY_NAMESPACE });
  const wrong: CacheEntry = { ...entry, inline: { [good.hash]: Buffer.from('evil\n').toString('base64') } };
  await keyv.set('k', wrong);
  const read = await store.get('k');
  assert.ok(read);
  const target = path.join(f.base, 't');
  const res = await store.restore(read, target);
  assert.not.ok(res.ok);
  if (!res.ok) assert.is(res.error.reason, 'corrupt');
  assert.not.ok(fs.existsSync(path.join(target, 'out/good.txt')));
  assert.is(await store.get('k'), undefined, 'the entry is gone: the next build stores a good one');
});

test('a missing blob fails restore with missing-blob and writes nothing', async () => {
  const f = fixture();
  const a = f.write('a.txt', 'a'.repeat(INLINE_FILE_MAX + 1));
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [a], '')).ok);
  const entry = await store.get('k');
  assert.ok(entry);
  for (const p of contentFiles(f.cacheDir)) fs.rmSync(p);
  const target = path.join(f.base, 't');
  const res = await store.restore(entry, target);
  assert.not.ok(res.ok);
  if (!res.ok) assert.is(res.error.reason, 'missing-blob');
  assert.not.ok(fs.existsSync(target));
});

test('an output that changed since it was hashed is refused', async () => {
  const f = fixture();
  const a = f.write('a.txt', 'before');
  fs.writeFileSync(path.join(f.root, 'a.txt'), 'after!');
  const store = await openCacheStore(f.cacheDir);
  const res = await store.put('k', 't', f.root, [a], '');
  assert.not.ok(res.ok);
  if (!res.ok) assert.is(res.error.reason, 'corrupt');
  assert.is(await store.get('k'), undefined);
});

test('an unwritable cache folder makes put return an io failure, never throw', async () => {
  // Tests may run as root, which ignores permission bits; a cache path under a regular file is
  // unwritable for everyone, root included.
  const f = fixture();
  const a = f.write('a.txt', 'a');
  const blocker = path.join(f.base, 'not-a-folder');
  fs.writeFileSync(blocker, 'x');
  for (const dir of [blocker, path.join(blocker, 'cache')]) {
    const store = await openCacheStore(dir);
    const res = await store.put('k', 't', f.root, [a], 'log');
    assert.not.ok(res.ok);
    if (!res.ok) assert.is(res.error.reason, 'io');
    const none = await store.put('k', 't', f.root, [], 'log');
    assert.not.ok(none.ok, 'even without outputs: the log and entry cannot be stored');
    assert.is(await store.get('k'), undefined);
  }
  const missingOutput = await (await openCacheStore(f.cacheDir)).put('k', 't', f.root, [{ ...a, path: 'gone.txt' }], '');
  assert.not.ok(missingOutput.ok);
  if (!missingOutput.ok) assert.is(missingOutput.error.reason, 'io');
});

test('an entry of another format version is a miss', async () => {
  const f = fixture();
  const a = f.write('a.txt', 'a');
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [a], '')).ok);
  const entry = (await store.get('k')) as CacheEntry;
  const raw = new Keyv<unknown>(new EntryLogKeyvStore(f.cacheDir), { namespace: 'entry' });
  assert.equal(await raw.get('k'), entry, 'the test writes where the store reads');
  await raw.set('k', { ...entry, formatVersion: CACHE_FORMAT_VERSION + 1 });
  assert.is(await store.get('k'), undefined);
});

test('an unparseable or malformed entry is a miss and is deleted', async () => {
  const f = fixture();
  const store = await openCacheStore(f.cacheDir);
  const adapter = new EntryLogKeyvStore(f.cacheDir);
  await adapter.set('entry:k1', '{"value": {"formatVersion": 1, "key": "k1"');
  assert.is(await store.get('k1'), undefined);
  assert.is(await adapter.get('entry:k1'), undefined, 'deleted');

  const raw = new Keyv<unknown>(adapter, { namespace: 'entry' });
  await raw.set('k2', { formatVersion: CACHE_FORMAT_VERSION, key: 'k2', taskId: 't', outputs: [{ path: '../../etc/passwd', hash: sha('x'), size: 1, mode: 0o644 }], logHash: sha(''), createdAt: 1 });
  assert.is(await store.get('k2'), undefined, 'a path leaving the root is never trusted');
  assert.is(await adapter.get('entry:k2'), undefined);
});

test('verifyStore removes corrupt content and reports it', async () => {
  const f = fixture();
  const a = f.write('a.txt', 'some bytes\n'.repeat(500));
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [a], '')).ok);
  const clean = await verifyStore(f.cacheDir);
  assert.equal(clean, { ok: true, value: 0 });
  const file = contentFiles(f.cacheDir).find((p) => p.split(path.sep).slice(-3).join('') === a.hash) as string;
  fs.chmodSync(file, 0o644);
  fs.writeFileSync(file, 'rotten bytes\n'.repeat(500));
  const res = await verifyStore(f.cacheDir);
  assert.equal(res, { ok: true, value: 1 });
  assert.not.ok(fs.existsSync(file));
  const entry = await store.get('k');
  assert.ok(entry, 'the entry survives; its blob is gone');
  const r = await store.restore(entry, path.join(f.base, 'x'));
  assert.not.ok(r.ok);
});

test('the synchronous writer writes what cacache reads, lists and verifies', async () => {
  const f = fixture();
  const data = Buffer.from('blob bytes\n');
  writeContentSync(f.cacheDir, sha(data), data);
  writeContentSync(f.cacheDir, sha(data), data); // again: the same bytes, no error
  insertIndexSync(f.cacheDir, 'blob:x', sha(data), data.length, 1234);
  insertIndexSync(f.cacheDir, 'blob:y', sha(data), data.length, 5678);
  const got = await cacache.get(f.cacheDir, 'blob:x', { memoize: false });
  assert.is(got.data.toString(), 'blob bytes\n');
  assert.is(got.integrity, integrityOf(sha(data)));
  assert.is(got.size, data.length);
  const info = await cacache.get.info(f.cacheDir, 'blob:y', { memoize: false });
  assert.is(info?.time, 5678);
  assert.equal(Object.keys(await cacache.ls(f.cacheDir)).sort(), ['blob:x', 'blob:y']);
  assert.equal(fs.readdirSync(path.join(f.cacheDir, 'tmp')), [], 'no temporary file left behind');
  assert.equal(await verifyStore(f.cacheDir), { ok: true, value: 0 });
  assert.is((await cacache.get(f.cacheDir, 'blob:y', { memoize: false })).data.toString(), 'blob bytes\n', 'verify keeps it');
});

test('the synchronous writer writes again into its folders after the cache was removed under it', async () => {
  const f = fixture();
  const data = Buffer.from('blob bytes\n');
  writeContentSync(f.cacheDir, sha(data), data);
  insertIndexSync(f.cacheDir, 'blob:y', sha(data), data.length, 1);
  assert.is(readIndexSync(f.cacheDir, 'blob:y')?.time, 1);
  // cleared meanwhile (as `uet cache clean` between two served builds): the same folders again
  fs.rmSync(f.cacheDir, { recursive: true, force: true });
  assert.is(readIndexSync(f.cacheDir, 'blob:y'), undefined, 'a removed bucket is a miss');
  writeContentSync(f.cacheDir, sha(data), data);
  insertIndexSync(f.cacheDir, 'blob:y', sha(data), data.length, 2);
  assert.is(readIndexSync(f.cacheDir, 'blob:y')?.time, 2);
  assert.is(readContentSync(f.cacheDir, sha(data)).toString(), 'blob bytes\n');
});

test('the synchronous reader reads what cacache writes: the last line wins, a removal hides the key, bad bytes are refused', async () => {
  const f = fixture();
  const data = Buffer.from('content bytes');
  await cacache.put(f.cacheDir, 'k', data, { algorithms: ['sha256'] });
  // a second line for the key, told apart by its size
  await cacache.index.insert(f.cacheDir, 'k', integrityOf(sha(data)), { size: 7 });
  const line = readIndexSync(f.cacheDir, 'k');
  assert.is(line?.size, 7);
  assert.is(line?.integrity, integrityOf(sha(data)));
  assert.is(readIndexSync(f.cacheDir, 'other'), undefined);
  assert.equal(readContentSync(f.cacheDir, sha(data), data.length), data);
  assert.throws(() => readContentSync(f.cacheDir, sha(data), data.length + 1), (e: NodeJS.ErrnoException) => e.code === 'EBADSIZE');
  assert.throws(() => readContentSync(f.cacheDir, sha('absent')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  const file = contentFiles(f.cacheDir).find((p) => p.split(path.sep).slice(-3).join('') === sha(data)) as string;
  fs.chmodSync(file, 0o644);
  fs.writeFileSync(file, 'content bytez');
  assert.throws(() => readContentSync(f.cacheDir, sha(data)), (e: NodeJS.ErrnoException) => e.code === 'EINTEGRITY');
  await cacache.rm.entry(f.cacheDir, 'k');
  assert.is(readIndexSync(f.cacheDir, 'k'), undefined, "cacache's removal");
});

test('an entry line whose checksum does not match is ignored', async () => {
  const f = fixture();
  const adapter = new EntryLogKeyvStore(f.cacheDir);
  await adapter.set('entry:k', '{"value":"first"}');
  await adapter.set('entry:k', '{"value":"second"}');
  const [log] = contentFilesUnder(path.join(f.cacheDir, ENTRY_LOG_DIR)) as [string];
  fs.writeFileSync(log, fs.readFileSync(log, 'utf8').replace('second', 'sekond'));
  assert.is(await new EntryLogKeyvStore(f.cacheDir).get('entry:k'), '{"value":"first"}', 'the tampered last line is skipped');
});

test('an entry in cacache\'s index (where entries were kept before their logs) is a miss, and pruning removes it', async () => {
  const f = fixture();
  const a = f.write('a.txt', 'a');
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('k', 't', f.root, [a], '')).ok);
  const entry = (await store.get('k')) as CacheEntry;
  const old = JSON.stringify({ value: { ...entry, key: 'old' } });
  await cacache.index.insert(f.cacheDir, 'entry:old', integrityOf(sha('')), { size: 0, metadata: old });
  assert.is(await store.get('old'), undefined);
  const pruned = await prune(f.cacheDir, { maxSize: 1e9, now: Date.now() }, parseStoredEntry);
  assert.ok(pruned.ok && pruned.value.entriesRemoved === 1 && pruned.value.entriesKept === 1, JSON.stringify(pruned));
  assert.equal(Object.keys(await cacache.ls(f.cacheDir)), [], 'the old entry is gone from the index');
  assert.ok(await store.get('k'));
});

test('pruning rewrites the entry logs with the entries it keeps; verify keeps them, and drops those whose blob is gone', async () => {
  const f = fixture();
  const quiet = f.write('q.txt', 'quiet output');
  const loud = f.write('l.txt', 'loud output');
  const big = f.write('big.bin', Buffer.alloc(INLINE_FILE_MAX + 1, 3));
  const store = await openCacheStore(f.cacheDir);
  assert.ok((await store.put('quiet', 't1', f.root, [quiet], '')).ok);
  assert.ok((await store.put('loud', 't2', f.root, [loud], 'some log\n')).ok);
  assert.ok((await store.put('big', 't3', f.root, [big], '')).ok);
  assert.ok((await store.put('loud', 't2', f.root, [loud], 'some log\n')).ok, 'stored twice: two lines');
  const logBytes = (): number => contentFilesUnder(path.join(f.cacheDir, ENTRY_LOG_DIR)).reduce((n, p) => n + fs.statSync(p).size, 0);
  const before = logBytes();
  const pruned = await prune(f.cacheDir, { maxSize: 0, protect: new Set(['loud', 'big']), now: Date.now() }, parseStoredEntry);
  assert.ok(pruned.ok && pruned.value.entriesRemoved === 1 && pruned.value.entriesKept === 2, JSON.stringify(pruned));
  assert.ok(logBytes() < before, 'the removed entry and the superseded line are gone from the logs');
  const reader = await openCacheStore(f.cacheDir);
  assert.is(await reader.get('quiet'), undefined);
  assert.equal(await verifyStore(f.cacheDir), { ok: true, value: 0 });
  const entry = await reader.get('loud');
  assert.ok(entry, 'still there after verify');
  assert.ok((await reader.restore(entry, path.join(f.base, 'again'))).ok);
  for (const p of contentFiles(f.cacheDir)) fs.rmSync(p);
  assert.equal(await dropBrokenEntries(f.cacheDir, parseStoredEntry), { ok: true, value: 1 });
  const after = await openCacheStore(f.cacheDir);
  assert.is(await after.get('big'), undefined, 'its blob is gone');
  assert.ok(await after.get('loud'));
});

function contentFilesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) found.push(path.join(e.parentPath, e.name));
  return found;
}

test.run();
