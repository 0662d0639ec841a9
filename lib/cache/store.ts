import { EventEmitter } from 'node:events';
import { chmodSync, createReadStream, createWriteStream, mkdirSync, promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Keyv, type StoredData } from 'keyv';
import { integrityOf, sha256 } from '../hash/digest.js';
import { deserializeKeyvJson, serializeKeyvJson } from './keyv-json.js';
import { checkContent, hasContentSync, insertIndexSync, isEmptyCacheSync, loadCacache, readContentSync, readIndexSync, writeContentSync } from './cacache-sync.js';
import { EntryLog } from './entry-log.js';
import { err, ok, type Result } from '../util/result.js';
import { errnoCode } from '../util/errno.js';
import { recordUse } from './lru.js';
import { CACHE_FORMAT_VERSION, ENTRY_NAMESPACE, keptInEntry, type CacheEntry, type CacheFailure, type CacheStore, type OutputFile } from './types.js';

/** Blobs up to this size go through memory (one read, verified, then written); larger ones are streamed. */
const IN_MEMORY_MAX = 16 * 1024 * 1024;
const BLOB_PREFIX = 'blob:';
/** files stored or restored at once: enough to hide latency, few enough to stay far from EMFILE */
const IO_CONCURRENCY = 16;
/** keyv's namespace for entries (types.ts: pruning, lru.ts, reads the same keys) */
export { ENTRY_NAMESPACE };
export const BLOB_KEY_PREFIX = BLOB_PREFIX;
const SMALL_READ = 64 * 1024;
/**
 * Outputs and logs up to this size are kept in their entry (CacheEntry.inline), up to
 * INLINE_ENTRY_MAX per entry: a blob of its own costs a content file, a rename and an index
 * bucket, usually in new folders, which for a trivial task is most of what caching it costs.
 */
export const INLINE_FILE_MAX = 4 * 1024;
const INLINE_ENTRY_MAX = 32 * 1024;

/**
 * Opens the local store at `dir`. Nothing is created or checked yet: a folder that cannot be
 * written shows up as an `io` failure of the first put, never as an exception here.
 */
export async function openCacheStore(dir: string): Promise<LocalStore> {
  return new LocalCacheStore(dir);
}

/** The local store, plus what the shared cache and pruning need of it. */
export interface LocalStore extends CacheStore {
  readonly dir: string;
  /** the blob's bytes as a stream that fails (EINTEGRITY/EBADSIZE) unless they match `hash` and `size` */
  openBlob(hash: string, size: number): Promise<NodeJS.ReadableStream & AsyncIterable<Buffer>>;
  /** keys read (hits) or written by this process: they must survive a prune at the end of the build */
  touched(): ReadonlySet<string>;
  /** bytes of the blobs this process added (not those already present) */
  addedBytes(): number;
  /** the cache was empty when this process opened it: its size is what this process added */
  readonly startedEmpty: boolean;
  /** records when the touched entries were last used (for least-recently-used pruning) */
  close(): Promise<void>;
}

/**
 * Runs cacache's verify: content whose bytes no longer match their hash is deleted, and index
 * entries pointing at missing content are dropped. Returns how many corrupt blobs were removed.
 */
export async function verifyStore(dir: string): Promise<Result<number, CacheFailure>> {
  try {
    const stats = (await (await loadCacache()).verify(dir)) as { badContentCount?: unknown };
    return ok(typeof stats.badContentCount === 'number' ? stats.badContentCount : 0);
  } catch (e) {
    return err({ reason: 'io', detail: describe(e) });
  }
}

/**
 * Keyv storage adapter over the cache's entry logs (entry-log.ts). Keyv hands it serialised
 * strings and reads them back.
 */
export class EntryLogKeyvStore extends EventEmitter {
  readonly opts = { dialect: 'uet-entry-log' };
  namespace?: string;
  readonly log: EntryLog;

  constructor(dir: string) {
    super();
    this.log = new EntryLog(dir);
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    // keyv's adapters return the serialised text; keyv itself deserialises it
    return this.log.get(key)?.value as StoredData<Value> | undefined;
  }

  async set(key: string, value: unknown): Promise<boolean> {
    if (typeof value !== 'string') throw new TypeError('EntryLogKeyvStore stores serialised strings only');
    this.log.set(key, value, Date.now());
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return this.log.delete(key, Date.now());
  }

  async clear(): Promise<void> {
    this.log.clear();
  }
}

class LocalCacheStore implements LocalStore {
  private readonly entries: Keyv<unknown>;
  private readonly used = new Set<string>();
  private added = 0;
  /**
   * Blobs this process stored or found with their index key: asked again (the empty log of
   * nearly every task, an output two tasks share), they cost no lookup. Only this store removes
   * blobs during a build (a corrupt one, dropCorrupt); pruning and verify run after it.
   */
  private readonly present = new Set<string>();

  readonly startedEmpty: boolean;

  private readonly log: EntryLog;

  constructor(readonly dir: string) {
    const adapter = new EntryLogKeyvStore(dir);
    this.log = adapter.log;
    this.startedEmpty = isEmptyCacheSync(dir) && !this.log.existsSync();
    // throwOnErrors: a failed write must reach put() as a failure, not vanish into an event
    this.entries = new Keyv<unknown>(adapter, { namespace: ENTRY_NAMESPACE, throwOnErrors: true, serialize: serializeKeyvJson, deserialize: deserializeKeyvJson });
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    let raw: unknown;
    try {
      raw = await this.entries.get(key);
    } catch (e) {
      // unparseable or failing its integrity check: drop it so the next put can replace it
      if (e instanceof SyntaxError || errnoCode(e) === 'EINTEGRITY' || errnoCode(e) === 'EBADSIZE') await this.delete(key);
      return undefined;
    }
    if (raw === undefined || raw === null) return undefined;
    const entry = parseEntry(raw);
    if (entry === 'other-version') return undefined;
    if (entry === undefined || entry.key !== key) {
      await this.delete(key);
      return undefined;
    }
    this.used.add(key);
    return entry;
  }

  async openBlob(hash: string, size: number): Promise<NodeJS.ReadableStream & AsyncIterable<Buffer>> {
    return (await loadCacache()).get.stream.byDigest(this.dir, integrityOf(hash), { size, memoize: false }) as unknown as NodeJS.ReadableStream & AsyncIterable<Buffer>;
  }

  touched(): ReadonlySet<string> {
    return this.used;
  }

  addedBytes(): number {
    return this.added;
  }

  async close(): Promise<void> {
    recordUse(this.dir, [...this.used], Date.now());
  }

  async put(key: string, taskId: string, root: string, outputs: readonly OutputFile[], log: string): Promise<Result<CacheEntry, CacheFailure>> {
    for (const o of outputs) {
      if (!isSafeRelPath(o.path)) return err({ reason: 'io', detail: `output path leaves the root: ${o.path}` });
    }
    const inline: Record<string, string> = {};
    let budget = INLINE_ENTRY_MAX;
    const fits = (size: number): boolean => size <= INLINE_FILE_MAX && size <= budget;
    const keep = (hash: string, data: Buffer): void => {
      inline[hash] = data.toString('base64');
      budget -= data.length;
      this.added += data.length;
    };
    const blobs: OutputFile[] = [];
    for (const o of outputs) {
      if (Object.hasOwn(inline, o.hash)) continue;
      if (!fits(o.size)) {
        blobs.push(o);
        continue;
      }
      const data = readChecked(path.join(root, o.path), o);
      if (!data.ok) return data;
      keep(o.hash, data.value);
    }
    // blobs before the entry: a crash in between leaves unreferenced blobs, never an entry without them
    let failure: CacheFailure | undefined;
    await eachLimit(blobs, IO_CONCURRENCY, async (o) => {
      const stored = await this.storeFile(path.join(root, o.path), o);
      if (!stored.ok) failure ??= stored.error;
      return stored.ok;
    });
    if (failure) return err(failure);
    const logBytes = Buffer.from(log, 'utf8');
    const logHash = sha256(logBytes);
    if (fits(logBytes.length)) keep(logHash, logBytes);
    else {
      // a blob even when another entry has the same log: the shared cache uploads and verify
      // checks each blob an entry names, and a blob that exists only by convention breaks both
      const storedLog = await this.storeBuffer(logBytes, logHash);
      if (!storedLog.ok) return storedLog;
    }

    const entry: CacheEntry = {
      formatVersion: CACHE_FORMAT_VERSION,
      key,
      taskId,
      outputs: outputs.map((o) => ({ path: o.path, hash: o.hash, size: o.size, mode: o.mode & 0o777 })),
      logHash,
      createdAt: Date.now(),
      ...(Object.keys(inline).length > 0 ? { inline } : {}),
    };
    try {
      await this.entries.set(key, entry);
    } catch (e) {
      return err({ reason: 'io', detail: `writing entry ${key}: ${describe(e)}` });
    }
    this.used.add(key);
    return ok(entry);
  }

  async restore(entry: CacheEntry, root: string): Promise<Result<void, CacheFailure>> {
    for (const o of entry.outputs) {
      if (!isSafeRelPath(o.path)) return err({ reason: 'corrupt', detail: `entry ${entry.key} names a path outside the root: ${o.path}` });
    }
    // cheap existence check first, so a missing blob costs no temporary files at all
    let missing: CacheFailure | undefined;
    await eachLimit(entry.outputs, IO_CONCURRENCY, async (o) => {
      try {
        if (keptInEntry(entry, o.hash) !== undefined || hasContentSync(this.dir, o.hash)) return true;
        missing ??= { reason: 'missing-blob', detail: `${o.path} (${o.hash})` };
      } catch (e) {
        missing ??= { reason: 'io', detail: describe(e) };
      }
      return false;
    });
    if (missing) return err(missing);

    const staged: { tmp: string; dest: string }[] = [];
    const createdDirs: { made: string; leaf: string }[] = [];
    try {
      await eachLimit(entry.outputs, IO_CONCURRENCY, async (o) => {
        const dest = path.join(root, o.path);
        const parent = path.dirname(dest);
        // mkdir, chmod and rename are one system call each, whatever the size: done on this
        // thread, not as a thread-pool round trip each (a cache-hit build restores hundreds)
        const made = mkdirSync(parent, { recursive: true });
        if (made !== undefined) createdDirs.push({ made, leaf: parent });
        const tmp = path.join(parent, `.${path.basename(dest)}.uet-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
        staged.push({ tmp, dest });
        await this.writeBlob(entry, o, tmp);
        chmodSync(tmp, o.mode & 0o777);
        return true;
      });
    } catch (e) {
      await discard(staged, createdDirs);
      const failure = classifyRead(e, entry.key);
      if (failure.reason === 'corrupt') await this.dropCorrupt(entry);
      return err(failure);
    }

    // every blob verified and staged: only now does anything appear under its real name
    for (let i = 0; i < staged.length; i++) {
      const s = staged[i] as { tmp: string; dest: string };
      try {
        renameSync(s.tmp, s.dest);
      } catch (e) {
        await discard(staged.slice(i), []);
        return err({ reason: 'io', detail: `placing ${path.relative(root, s.dest)}: ${describe(e)}` });
      }
    }
    return ok(undefined);
  }

  async readLog(entry: CacheEntry): Promise<string | undefined> {
    try {
      return this.smallContent(entry, entry.logHash).toString('utf8');
    } catch {
      return undefined;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.entries.delete(key);
    } catch {
      // an entry we cannot delete is still checked on every read
    }
  }

  async clear(): Promise<void> {
    this.present.clear();
    this.log.clear();
    const cacache = await loadCacache();
    await cacache.rm.all(this.dir);
    await cacache.verify(this.dir);
  }

  /** a copy of the file at `abs`, refused unless its bytes still hash to what the caller recorded */
  private async storeFile(abs: string, o: OutputFile): Promise<Result<void, CacheFailure>> {
    const key = BLOB_PREFIX + o.hash;
    try {
      if (await this.alreadyStored(key, o.hash, o.size)) return ok(undefined);
      if (o.size <= SMALL_READ) {
        // stored on this thread in a few system calls (cacache-sync.ts)
        const data = readChecked(abs, o);
        if (!data.ok) return data;
        this.putBytes(key, o.hash, data.value);
      } else {
        const opts = { integrity: integrityOf(o.hash), algorithms: ['sha256'] as [string], size: o.size };
        const cacache = await loadCacache();
        if (o.size <= IN_MEMORY_MAX) await cacache.put(this.dir, key, await fsp.readFile(abs), opts);
        else await pipeline(createReadStream(abs), cacache.put.stream(this.dir, key, opts));
        this.present.add(key);
      }
      this.added += o.size;
      return ok(undefined);
    } catch (e) {
      if (errnoCode(e) === 'EINTEGRITY' || errnoCode(e) === 'EBADSIZE') {
        return err({ reason: 'corrupt', detail: `${o.path} changed after it was hashed` });
      }
      return err({ reason: 'io', detail: `storing ${o.path}: ${describe(e)}` });
    }
  }

  private async storeBuffer(data: Buffer, hash: string): Promise<Result<void, CacheFailure>> {
    const key = BLOB_PREFIX + hash;
    try {
      if (await this.alreadyStored(key, hash, data.length)) return ok(undefined);
      this.putBytes(key, hash, data);
      this.added += data.length;
      return ok(undefined);
    } catch (e) {
      return err({ reason: 'io', detail: `storing log: ${describe(e)}` });
    }
  }

  /** content plus its `blob:` index key, which keeps verify from collecting it */
  private putBytes(key: string, hash: string, data: Buffer): void {
    writeContentSync(this.dir, hash, data);
    insertIndexSync(this.dir, key, hash, data.length, Date.now());
    this.present.add(key);
  }

  /**
   * Content already present needs only its index key (which keeps `verify` from collecting it).
   * Its bytes are not re-checked here: restore verifies them and evicts a corrupt copy.
   */
  private async alreadyStored(key: string, hash: string, size: number): Promise<boolean> {
    if (this.present.has(key)) return true;
    if (!hasContentSync(this.dir, hash)) return false;
    if (!readIndexSync(this.dir, key)) insertIndexSync(this.dir, key, hash, size, Date.now());
    this.present.add(key);
    return true;
  }

  /**
   * Content the entry keeps, else its blob read whole: checked against its hash (and size), or
   * an error with cacache's code (ENOENT, EBADSIZE, EINTEGRITY). The entry line's checksum
   * covers kept bytes; their check catches an entry written wrong.
   */
  private smallContent(entry: CacheEntry, hash: string, size?: number): Buffer {
    const kept = keptInEntry(entry, hash);
    return kept !== undefined ? checkContent(Buffer.from(kept, 'base64'), hash, size) : readContentSync(this.dir, hash, size);
  }

  private async writeBlob(entry: CacheEntry, o: OutputFile, tmp: string): Promise<void> {
    if (keptInEntry(entry, o.hash) !== undefined || o.size <= SMALL_READ) {
      let data: Buffer;
      try {
        data = this.smallContent(entry, o.hash, o.size);
      } catch (e) {
        throw new BlobReadError(e);
      }
      writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
      return;
    }
    const integrity = integrityOf(o.hash);
    const cacache = await loadCacache();
    if (o.size <= IN_MEMORY_MAX) {
      const data = await readStage(cacache.get.byDigest(this.dir, integrity, { size: o.size, memoize: false }));
      await fsp.writeFile(tmp, data, { flag: 'wx', mode: 0o600 });
    } else {
      // the read stream checks size and integrity as it ends; the temp file is discarded if not
      await pipeline(
        cacache.get.stream.byDigest(this.dir, integrity, { size: o.size, memoize: false }),
        createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
      );
    }
  }

  /**
   * cacache keeps existing content on a put, so a corrupt blob must go before a good copy can be
   * stored; an entry whose kept bytes are wrong goes itself.
   */
  private async dropCorrupt(entry: CacheEntry): Promise<void> {
    for (const o of entry.outputs) {
      try {
        this.smallContent(entry, o.hash, o.size);
      } catch (e) {
        if (errnoCode(e) !== 'EINTEGRITY' && errnoCode(e) !== 'EBADSIZE') continue;
        if (keptInEntry(entry, o.hash) !== undefined) {
          await this.delete(entry.key);
          continue;
        }
        this.present.delete(BLOB_PREFIX + o.hash);
        await (await loadCacache()).rm.content(this.dir, integrityOf(o.hash)).catch(() => false);
      }
    }
  }
}

/**
 * Runs `fn` over `items`, at most `limit` at once. Stops starting new work once one returns
 * false or throws; waits for what is running either way, so a caller cleaning up afterwards
 * never races a write still in flight. Rethrows the first error.
 */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<boolean>): Promise<void> {
  let next = 0;
  let stop = false;
  let first: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!stop && next < items.length) {
      const item = items[next++] as T;
      try {
        if (!(await fn(item))) stop = true;
      } catch (e) {
        stop = true;
        first ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (first) throw first.error;
}

/** the output's bytes, refused unless they still hash to what the caller recorded */
function readChecked(abs: string, o: OutputFile): Result<Buffer, CacheFailure> {
  let data: Buffer;
  try {
    data = readFileSync(abs);
  } catch (e) {
    return err({ reason: 'io', detail: `storing ${o.path}: ${describe(e)}` });
  }
  if (data.length !== o.size || sha256(data) !== o.hash) return err({ reason: 'corrupt', detail: `${o.path} changed after it was hashed` });
  return ok(data);
}

/** marks errors from reading a blob so they are not mistaken for errors writing the temp file */
class BlobReadError extends Error {
  constructor(readonly inner: unknown) {
    super(describe(inner));
  }
}

async function readStage(p: Promise<Buffer>): Promise<Buffer> {
  try {
    return await p;
  } catch (e) {
    throw new BlobReadError(e);
  }
}

function classifyRead(e: unknown, key: string): CacheFailure {
  const inner = e instanceof BlobReadError ? e.inner : e;
  const c = errnoCode(inner);
  if (c === 'EINTEGRITY' || c === 'EBADSIZE') return { reason: 'corrupt', detail: `entry ${key}: ${describe(inner)}` };
  if (e instanceof BlobReadError && c === 'ENOENT') return { reason: 'missing-blob', detail: `entry ${key}: ${describe(inner)}` };
  return { reason: 'io', detail: `entry ${key}: ${describe(inner)}` };
}

async function discard(staged: readonly { tmp: string }[], createdDirs: readonly { made: string; leaf: string }[]): Promise<void> {
  await Promise.all(staged.map((s) => fsp.rm(s.tmp, { force: true }).catch(() => undefined)));
  // Only folders this restore created, and only while empty (another task may share them).
  // Deepest first: concurrent mkdirs may have split one new chain between two records.
  const dirs = new Set<string>();
  for (const { made, leaf } of createdDirs) {
    for (let d = leaf; d.length >= made.length; d = path.dirname(d)) {
      dirs.add(d);
      if (d === made) break;
    }
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await fsp.rmdir(d).catch(() => undefined);
}


function isSafeRelPath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\\') || p.includes('\0') || /^[A-Za-z]:/.test(p)) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

const HEX64 = /^[0-9a-f]{64}$/;

export function parseEntry(raw: unknown): CacheEntry | 'other-version' | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r['formatVersion'] !== CACHE_FORMAT_VERSION) return typeof r['formatVersion'] === 'number' ? 'other-version' : undefined;
  const { key, taskId, outputs, logHash, createdAt } = r;
  if (typeof key !== 'string' || typeof taskId !== 'string' || typeof logHash !== 'string' || !HEX64.test(logHash)) return undefined;
  if (typeof createdAt !== 'number' || !Array.isArray(outputs)) return undefined;
  const outs: OutputFile[] = [];
  for (const o of outputs as unknown[]) {
    if (typeof o !== 'object' || o === null) return undefined;
    const { path: p, hash, size, mode } = o as Record<string, unknown>;
    if (typeof p !== 'string' || !isSafeRelPath(p) || typeof hash !== 'string' || !HEX64.test(hash)) return undefined;
    if (typeof size !== 'number' || typeof mode !== 'number') return undefined;
    outs.push({ path: p, hash, size, mode });
  }
  const inline = r['inline'];
  if (inline === undefined) return { formatVersion: CACHE_FORMAT_VERSION, key, taskId, outputs: outs, logHash, createdAt };
  if (typeof inline !== 'object' || inline === null || Array.isArray(inline)) return undefined;
  for (const [hash, data] of Object.entries(inline)) if (!HEX64.test(hash) || typeof data !== 'string' || !BASE64.test(data)) return undefined;
  return { formatVersion: CACHE_FORMAT_VERSION, key, taskId, outputs: outs, logHash, createdAt, inline: inline as Record<string, string> };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** an entry as stored in the entry logs (keyv's serialisation: `{"value": …}`), or undefined if unreadable */
export function parseStoredEntry(text: string): CacheEntry | undefined {
  try {
    const entry = parseEntry((JSON.parse(text) as { value?: unknown }).value);
    return entry === 'other-version' ? undefined : entry;
  } catch {
    return undefined;
  }
}
