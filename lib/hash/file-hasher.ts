import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync, statSync, unlinkSync, type BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { errnoCode } from '../util/errno.js';
import { readTextFile } from '../util/read-text.js';
import { ByteSink } from '../util/byte-sink.js';
import { appendJournal, indexFileId, readJournal, type JournalLine } from './index-journal.js';
import { compareQuoted, quotedPath, SortedRows } from './index-rows.js';
import type { FileDigest, FileHasher } from './types.js';

/**
 * Bumped when the persisted layout changes; an index of an unknown version is ignored (treated
 * as empty). Version 2 writes its rows sorted by path (lib/hash/index-rows.ts); a version 1
 * index is read whole, as before, and written as version 2.
 */
const INDEX_VERSION = 2;
const UNSORTED_INDEX_VERSION = 1;

/**
 * Default racy window. Timestamps come from the kernel's coarse clock (a few ms behind the real
 * time on Linux) and some filesystems only keep whole (or even two) seconds, so a write made
 * just after we read a file can carry the very timestamp we recorded. 2 s covers both.
 */
const DEFAULT_RACY_WINDOW_MS = 2000;
const DEFAULT_CONCURRENCY = 64;
/**
 * How large the journal (lib/hash/index-journal.ts) may grow before it is folded into the index
 * of `indexBytes`. Every build reads the journal (~4 µs a row in a fresh process, its code not
 * yet compiled) and a fold rewrites the index (~16 ms a MB); their sum per build is least when
 * the journal holds about √(2 × the fold's cost × rows a build adds ÷ a row's cost) rows. With
 * 2 rows a build (an edited source, old enough to trust, and an output) of ~150 bytes, that is
 * ~20 × √indexBytes bytes: ~34 KB (~230 rows) at 10,000 tasks, ~0.9 ms a build on average
 * where every such build rewrote the index (~46 ms). A bound of a fixed share of the index
 * (an eighth: ~2,400 rows at 10,000 tasks) had builds read ~10 ms of journal before a fold.
 */
function journalLimit(indexBytes: number): number {
  return Math.max(8 * 1024, 20 * Math.sqrt(indexBytes));
}
const READ_CHUNK = 1 << 20;
// O_NONBLOCK: if a path turns into a FIFO between stat and open, open must not hang the build
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

interface Entry {
  readonly size: number;
  // ns timestamps and inode numbers exceed 2^53: kept as decimal strings, compared as such
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly mode: number;
  readonly hash: string;
}

/**
 * A row as read from the index file, not yet parsed or checked: its JSON text. A build looks up
 * a few hundred of the tens of thousands it holds, so each is parsed and checked when first
 * asked for, and rows never asked for are written back as they were, after the same racy-write
 * check the lookup makes.
 */
interface LoadedRow {
  readonly row: string;
  /** when the journal's batch holding it was written; absent: the index file's time */
  readonly writtenNs?: string;
}

/**
 * What this process knows beyond the file's sorted rows: entries it found, checked or added,
 * rows of an unsorted (version 1) file, and `null` for a path whose row no longer counts.
 */
type Known = Entry | LoadedRow | null;

export interface FileHasherOptions {
  /** a file changed less than this long before it was hashed is re-hashed next time (see DEFAULT_RACY_WINDOW_MS) */
  readonly racyWindowMs?: number;
  /** files read at once by hashFiles */
  readonly concurrency?: number;
}

export interface FileHasherStats {
  /** files whose bytes were read (the stat index could not vouch for them) */
  reads: number;
  /** files answered from the stat index without reading */
  indexHits: number;
}

/**
 * Creates a hasher whose stat index persists at `indexPath`. A missing, truncated or
 * unreadable index is an empty one: it only ever saves work, never decides correctness alone.
 */
export async function createFileHasher(root: string, indexPath: string, opts: FileHasherOptions = {}): Promise<StatIndexHasher> {
  // `file` only for a sorted index: only that is extended by a journal, anything else is
  // rewritten at the first flush
  const { entries, sorted, writtenNs, file } = loadIndex(indexPath);
  const journal = file ? readJournal(journalPathOf(indexPath), file.id) : undefined;
  for (const c of journal?.changes ?? []) entries.set(c.path, c.row === null ? null : { row: c.row, writtenNs: c.writtenNs });
  const hasher = new StatIndexHasher(root, indexPath, entries, sorted, writtenNs.toString(), file, journal?.bytes, opts);
  // an unsorted (version 1) index is written sorted at the end of this build, changed or not
  if (!sorted && entries.size > 0) hasher.markChanged();
  return hasher;
}

function journalPathOf(indexPath: string): string {
  return `${indexPath}.journal`;
}

/** The index file a journal may extend: its identity (indexFileId) and size. */
interface IndexFile {
  readonly id: string;
  readonly bytes: number;
}

export class StatIndexHasher implements FileHasher {
  readonly stats: FileHasherStats = { reads: 0, indexHits: 0 };
  private readonly racyWindowNs: bigint;
  private readonly concurrency: number;
  private readonly inflight = new Map<string, Promise<FileDigest | null>>();
  /** paths whose entry this process added, replaced or dropped since the last flush */
  private readonly changed = new Set<string>();
  /** the next flush rewrites the index whole (it is not sorted) */
  private rewriteWhole = false;

  constructor(
    private readonly root: string,
    private readonly indexPath: string,
    private readonly entries: Map<string, Known>,
    /** the file's rows, when it wrote them sorted; `entries` overrides them */
    private readonly sorted: SortedRows | undefined,
    /** when the index file was written (ns, the file system's clock, in decimal); '0': no file */
    private readonly writtenNs: string,
    /** the sorted index file on disk that a journal may extend; undefined: the next flush writes one */
    private indexFile: IndexFile | undefined,
    /** the size of that index's journal; undefined: it has none */
    private journalBytes: number | undefined,
    opts: FileHasherOptions,
  ) {
    this.racyWindowNs = BigInt(Math.round((opts.racyWindowMs ?? DEFAULT_RACY_WINDOW_MS) * 1e6));
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  }

  hashFile(relPath: string): Promise<FileDigest | null> {
    // two callers asking for one path at once share one read
    const pending = this.inflight.get(relPath);
    if (pending) return pending;
    const p = this.compute(relPath).finally(() => this.inflight.delete(relPath));
    this.inflight.set(relPath, p);
    return p;
  }

  async hashFiles(relPaths: readonly string[]): Promise<Map<string, FileDigest | null>> {
    // callers may rely on the order they asked in: the map is filled in that order, and the
    // files the stat index vouches for (nearly all, on a no-op) are answered right here,
    // without a promise each; only the others are read, `concurrency` at once
    const out = new Map<string, FileDigest | null>();
    let misses: string[] | undefined;
    for (const rel of relPaths) {
      if (out.has(rel)) continue;
      const known = this.inflight.has(rel) ? undefined : this.fromIndex(rel);
      out.set(rel, known ?? null);
      if (known === undefined) (misses ??= []).push(rel);
    }
    if (misses === undefined) return out;
    const todo = misses;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const rel = todo[next++] as string;
        out.set(rel, await this.hashFile(rel));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, todo.length) }, worker));
    return out;
  }

  /** the next flush writes the index whole, even if no entry changed */
  markChanged(): void {
    this.rewriteWhole = true;
  }

  forget(relPath: string): void {
    const known = this.entries.get(relPath);
    const had = known !== undefined ? known !== null : this.sorted?.find(relPath) !== undefined;
    if (!had) return;
    if (this.sorted) this.entries.set(relPath, null);
    else this.entries.delete(relPath);
    this.changed.add(relPath);
  }

  async flush(): Promise<void> {
    if (this.changed.size === 0 && !this.rewriteWhole) return;
    if (!this.rewriteWhole && this.indexFile !== undefined && this.appendChanges(this.indexFile)) return;
    const out = new ByteSink();
    out.write(INDEX_HEAD);
    let first = true;
    for (const row of this.rowsToWrite()) {
      if (!first) out.write(',');
      out.write(row);
      first = false;
    }
    out.write(INDEX_TAIL);
    // what changes while the file is written is the next flush's
    const written = [...this.changed];
    this.changed.clear();
    this.rewriteWhole = false;
    try {
      await fsp.mkdir(path.dirname(this.indexPath), { recursive: true });
      // Without fsync (~4-5 ms at 10,000 rows): after a crash the file is the old one, whose rows
      // a changed file's stat no longer matches, or a cut one, which does not end as it must and
      // is not read (loadIndex). Either costs re-reading files, never a wrong digest.
      await writeFileAtomic(this.indexPath, out.bytes(), { fsync: false });
    } catch {
      // the index only saves re-reading; failing to save it must not fail a build
      for (const p of written) this.changed.add(p);
      this.rewriteWhole = true;
      return;
    }
    // the old journal's rows are in the new file; its header names the old one, so a journal
    // left behind (the unlink failed) is not read either
    try {
      unlinkSync(journalPathOf(this.indexPath));
    } catch {
      // none, or not ours to remove: either way it no longer counts
    }
    this.journalBytes = undefined;
    try {
      const st = statSync(this.indexPath, { bigint: true });
      this.indexFile = { id: indexFileId(st), bytes: Number(st.size) };
    } catch {
      this.indexFile = undefined;
    }
  }

  /**
   * Appends the changed entries to the index's journal, unless that would grow it past its share
   * of the index (then the caller rewrites the index). Whether they were written.
   */
  private appendChanges(index: IndexFile): boolean {
    const lines: JournalLine[] = [];
    let bytes = 0;
    for (const p of this.changed) {
      const e = this.entries.get(p);
      const line: JournalLine = e === undefined || e === null ? { removedQuoted: quotedPath(p) } : { row: 'row' in e ? e.row : rowOf(p, e) };
      lines.push(line);
      bytes += ('row' in line ? line.row.length : line.removedQuoted.length) + 2;
    }
    if ((this.journalBytes ?? 0) + bytes > journalLimit(index.bytes)) return false;
    const size = appendJournal(journalPathOf(this.indexPath), index.id, this.journalBytes === undefined, lines);
    if (size === undefined) return false;
    this.journalBytes = size;
    this.changed.clear();
    return true;
  }

  /**
   * The stat step: the file's digest when the stat index vouches for it, null when it is not
   * a regular file (or is gone), undefined when its bytes must be read.
   */
  private fromIndex(rel: string): FileDigest | null | undefined {
    let st: BigIntStats | undefined;
    try {
      // Synchronous on purpose: the stat is the whole cost of a no-op build, and the async call's
      // thread-pool round trip makes it about three times slower (10,000 files: ~40 ms vs ~140 ms).
      st = statSync(path.join(this.root, rel), { bigint: true, throwIfNoEntry: false });
    } catch (e) {
      if (isAbsent(e)) return this.gone(rel);
      throw e;
    }
    if (st === undefined || !st.isFile()) return this.gone(rel);
    const known = this.entry(rel);
    if (known && sameStat(known, st)) {
      this.stats.indexHits++;
      return { hash: known.hash, size: known.size, mode: known.mode };
    }
    return undefined;
  }

  /**
   * Every row the index keeps, sorted by quoted path: the file's sorted rows, overridden by
   * `entries`, merged with the paths only `entries` knows. Rows never looked up are kept after
   * the racy-write check a lookup would have made.
   */
  private *rowsToWrite(): Generator<string> {
    // what this process knows (in sorted mode: entries checked or added, and nulls)
    const own: Array<{ readonly quoted: string; readonly row: string }> = [];
    for (const [p, e] of this.entries) {
      if (e === null) continue;
      const row = 'row' in e ? (racyRow(e.row, e.writtenNs ?? this.writtenNs) ? undefined : e.row) : rowOf(p, e);
      if (row !== undefined) own.push({ quoted: quotedPath(p), row });
    }
    own.sort((a, b) => compareQuoted(a.quoted, b.quoted));
    let next = 0;
    for (const { quoted, path: p, row } of this.sorted?.rows() ?? []) {
      if (quoted === undefined || p === undefined) continue; // damaged
      while (next < own.length && compareQuoted(own[next]!.quoted, quoted) < 0) yield own[next++]!.row;
      // replaced or forgotten by this process: its own row (if any) is written instead
      if (this.entries.has(p)) continue;
      if (!racyRow(row, this.writtenNs)) yield row;
    }
    while (next < own.length) yield own[next++]!.row;
  }

  /** the entry for `rel`, checking a loaded row on first use */
  private entry(rel: string): Entry | undefined {
    let e = this.entries.get(rel);
    if (e === null) return undefined;
    if (e === undefined) {
      const row = this.sorted?.find(rel);
      if (row === undefined) return undefined;
      e = { row };
    }
    if (!('row' in e)) return e;
    const checked = toEntry(parseRow(e.row));
    if (!checked || racy(checked.mtimeNs, checked.ctimeNs, e.writtenNs ?? this.writtenNs)) {
      if (this.sorted) this.entries.set(rel, null);
      else this.entries.delete(rel);
      this.changed.add(rel);
      return undefined;
    }
    this.entries.set(rel, checked);
    return checked;
  }

  private async compute(rel: string): Promise<FileDigest | null> {
    const indexed = this.fromIndex(rel);
    if (indexed !== undefined) return indexed;
    const abs = path.join(this.root, rel);

    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const small = readAndHashSmall(abs);
    const read = small === 'large' ? await readAndHash(abs) : small;
    if (read === null) return this.gone(rel);
    this.stats.reads++;
    const { before, after, hash, bytes } = read;
    const digest: FileDigest = { hash, size: bytes, mode: Number(before.mode & 0o777n) };

    // Git's "racily clean" problem: a write landing in the same timestamp tick as the one we
    // recorded would leave the stat tuple unchanged, so such an entry is not kept and the file
    // is read again next time. ctime counts too: it cannot be set back, unlike mtime.
    const stable = sameStats(before, after) && Number(before.size) === bytes;
    const newest = before.mtimeNs > before.ctimeNs ? before.mtimeNs : before.ctimeNs;
    if (stable && newest < startedNs - this.racyWindowNs) {
      const mtimeNs = before.mtimeNs.toString();
      this.entries.set(rel, {
        size: bytes,
        mtimeNs,
        // one string for both when they are equal (most files): 40 bytes an entry
        ctimeNs: before.ctimeNs === before.mtimeNs ? mtimeNs : before.ctimeNs.toString(),
        ino: before.ino.toString(),
        mode: digest.mode,
        hash,
      });
      this.changed.add(rel);
    } else {
      this.forget(rel);
    }
    return digest;
  }

  private gone(rel: string): null {
    this.forget(rel);
    return null;
  }
}

function sameStat(e: Entry, st: BigIntStats): boolean {
  return (
    e.size === Number(st.size) &&
    e.mtimeNs === st.mtimeNs.toString() &&
    e.ctimeNs === st.ctimeNs.toString() &&
    e.ino === st.ino.toString() &&
    e.mode === Number(st.mode & 0o777n)
  );
}

function sameStats(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.mode === b.mode;
}

function isAbsent(e: unknown): boolean {
  const code = errnoCode(e);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EISDIR';
}

interface ReadResult {
  readonly before: BigIntStats;
  readonly after: BigIntStats;
  readonly hash: string;
  readonly bytes: number;
}

/** Hashes through one descriptor, with its stat before and after: a change while reading shows as a difference. */
/**
 * Files up to this size are read synchronously: five syscalls on this thread cost far less
 * than five thread-pool round trips (a cold build hashes every output it writes, and most
 * outputs are small). Larger files go through the pool so the event loop is not held up.
 */
const SMALL_FILE = 64 * 1024;

/** readAndHash for a small file, synchronously; 'large' when the file is too big for that. */
function readAndHashSmall(abs: string): ReadResult | null | 'large' {
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch (e) {
    if (isAbsent(e)) return null;
    throw e;
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return null;
    if (before.size > BigInt(SMALL_FILE)) return 'large';
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(Number(before.size) + 1);
    let bytes = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      bytes += n;
      // short of the byte past the size it had: the end (a regular file's read stops short only
      // there), without a read that returns 0. A file that grew meanwhile fills the buffer and is
      // read on; either way the stat after tells a change.
      if (n < buf.length) break;
    }
    const after = fstatSync(fd, { bigint: true });
    return { before, after, hash: h.digest('hex'), bytes };
  } finally {
    closeSync(fd);
  }
}

async function readAndHash(abs: string): Promise<ReadResult | null> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(abs, OPEN_FLAGS);
  } catch (e) {
    if (isAbsent(e)) return null;
    throw e;
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile()) return null;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK, Number(before.size) + 1)));
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    const after = await fh.stat({ bigint: true });
    return { before, after, hash: h.digest('hex'), bytes };
  } finally {
    await fh.close();
  }
}

/** the index file's rows; `file` (its identity and size) only when they are sorted */
function loadIndex(indexPath: string): { entries: Map<string, Known>; sorted?: SortedRows; writtenNs: bigint; file?: IndexFile } {
  const entries = new Map<string, Known>();
  let text: string;
  let writtenNs: bigint;
  let file: IndexFile;
  try {
    // On this thread: the build has nothing to do until it has the index, and opening, stating
    // and reading 3 MB (10,000 files) through the thread pool took ~10 round trips, 4-5 ms more.
    const fd = openSync(indexPath, 'r');
    try {
      const st = fstatSync(fd, { bigint: true });
      writtenNs = st.mtimeNs;
      file = { id: indexFileId(st), bytes: Number(st.size) };
      text = readTextFile(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return { entries, writtenNs: 0n };
  }
  if (!text.endsWith(INDEX_TAIL)) return { entries, writtenNs };
  // sorted rows are looked up where they are (lib/hash/index-rows.ts)
  if (text.startsWith(INDEX_HEAD)) return { entries, sorted: new SortedRows(text.slice(INDEX_HEAD.length, text.length - INDEX_TAIL.length)), writtenNs, file };
  if (!text.startsWith(UNSORTED_INDEX_HEAD)) return { entries, writtenNs };
  // an unsorted index's rows are split (by the sorted one's row walk, which needs no order), not parsed
  for (const { path: p, row } of new SortedRows(text.slice(UNSORTED_INDEX_HEAD.length, text.length - INDEX_TAIL.length)).rows()) {
    if (p !== undefined) entries.set(p, { row });
  }
  return { entries, writtenNs };
}

const INDEX_HEAD = `{"v":${INDEX_VERSION},"e":[`;
const UNSORTED_INDEX_HEAD = `{"v":${UNSORTED_INDEX_VERSION},"e":[`;
const INDEX_TAIL = ']}';

function parseRow(row: string): unknown {
  try {
    return JSON.parse(row);
  } catch {
    return undefined;
  }
}

const DIGITS = /^\d+$/;
const HEX64 = /^[0-9a-f]{64}$/;

function toEntry(row: unknown): Entry | undefined {
  if (!Array.isArray(row) || row.length !== 7) return undefined;
  const [p, size, mtimeNs, ctimeNs, ino, mode, hash] = row as unknown[];
  if (typeof p !== 'string' || typeof size !== 'number' || typeof mode !== 'number') return undefined;
  if (typeof mtimeNs !== 'string' || typeof ctimeNs !== 'string' || typeof ino !== 'string' || typeof hash !== 'string') return undefined;
  if (!DIGITS.test(mtimeNs) || !DIGITS.test(ctimeNs) || !DIGITS.test(ino) || !HEX64.test(hash)) return undefined;
  return { size, mtimeNs, ctimeNs, ino, mode, hash };
}

/** an entry's row, as JSON.stringify would write [path, size, mtimeNs, ctimeNs, ino, mode, hash] (without building the array) */
function rowOf(p: string, e: Entry): string {
  return `[${quotedPath(p)},${e.size},"${e.mtimeNs}","${e.ctimeNs}","${e.ino}",${e.mode},"${e.hash}"]`;
}

/** a row's fields after its path: size, mtime, ctime, inode, mode, hash */
const ROW_TAIL = /,(\d+),"(\d+)","(\d+)","\d+",\d+,"[0-9a-f]{64}"\]$/;

/**
 * Whether an unchecked row must not be written back: unreadable, or racy. Read from the row's
 * text (its path was checked when it was loaded): this runs over every row never looked up.
 */
function racyRow(row: string, writtenNs: string): boolean {
  const m = ROW_TAIL.exec(row);
  return !m || racy(m[2]!, m[3]!, writtenNs);
}

/**
 * Git's rule, on the file system's own clock: an entry not strictly older than the index write
 * it came from could have been rewritten within the same tick after it was recorded. Decimal
 * strings compared without BigInt; a leading zero makes a time look newer, never older.
 */
function racy(mtimeNs: string, ctimeNs: string, writtenNs: string): boolean {
  return !decimalBelow(mtimeNs, writtenNs) || !decimalBelow(ctimeNs, writtenNs);
}

/** a < b for non-negative decimal strings without leading zeros */
function decimalBelow(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}
