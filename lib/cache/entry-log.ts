/**
 * The local cache's entries (key → serialised value), in 256 append-only logs beside cacache's
 * folders: `entries-v1/xx.log`, `xx` the first two hex digits of the key's sha256.
 *
 * Why not cacache's index, where entries lived before: it keeps one file per key in one of
 * 65,536 folders, so nearly every entry a cold build stores creates a folder and a file, and
 * creating inodes was the largest single part of the build thread's kernel time (perf:
 * `__ext4_new_inode` 7.8 % of its CPU; no index at all was 4.3 % faster). Here a store is an
 * append to one of 256 files that soon exist.
 *
 * A line is `\n<sha1 of the rest>\t<key>\t<ms>\t<value>`; an empty value removes the key. As in
 * cacache's index the last line for a key wins and a line whose checksum does not match is
 * skipped, so a torn append (a crash, two writers) loses at most that line: a miss, never a
 * wrong value. Lines begin with their newline so a torn line never swallows the next.
 *
 * A reader keeps what it parsed of each log, with the log's inode and the size it had read:
 * asked again, a log that only grew is read from there on, and one replaced by a compaction
 * (another file) or cut shorter is read again whole. A miss of a log never stored costs one stat.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../hash/digest.js';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';

export const ENTRY_LOG_DIR = 'entries-v1';
const LOG_SUFFIX = '.log';
const NEWLINE = 0x0a;

/** The live value of a key, and when it was stored. */
export interface EntryRecord {
  readonly key: string;
  readonly value: string;
  /** ms since epoch */
  readonly time: number;
}

/**
 * A line this process appended, known by where it is: read back when asked for (rarely: a later
 * build of a served session), rather than kept. A cold build of 10,000 tasks kept ~6 MB of
 * entries it never read again.
 */
interface Appended {
  readonly key: string;
  readonly at: number;
  readonly length: number;
}

/**
 * What a reader knows of one log: its records (null: removed) as of `size` bytes of the file
 * `ino` born at `born` (a file system that reuses inode numbers soon, like XFS, could give a
 * compacted log its predecessor's; its birth time tells them apart where it has one).
 */
interface LogState {
  readonly ino: number;
  readonly born: number;
  size: number;
  readonly records: Map<string, EntryRecord | Appended | null>;
}

export class EntryLog {
  readonly folder: string;
  private readonly logs = new Map<string, LogState>();
  private folderMade = false;

  constructor(cacheDir: string) {
    this.folder = path.join(cacheDir, ENTRY_LOG_DIR);
  }

  /** whether any log exists */
  existsSync(): boolean {
    return existsSync(this.folder);
  }

  get(key: string): EntryRecord | undefined {
    const file = this.logOf(key);
    const st = statIfAny(file);
    if (st === undefined) {
      this.logs.delete(file);
      return undefined;
    }
    let state = this.logs.get(file);
    if (state === undefined || state.ino !== st.ino || state.born !== st.birthtimeMs || st.size < state.size) {
      state = { ino: st.ino, born: st.birthtimeMs, size: 0, records: new Map() };
      this.logs.set(file, state);
    }
    if (st.size > state.size) readTail(file, state, st.size);
    const known = state.records.get(key);
    if (known === undefined || known === null || 'value' in known) return known ?? undefined;
    const line = readLineAt(file, known);
    if (line !== undefined && line.key === key) return line.value === '' ? undefined : line;
    // not the line this process wrote there: the log changed under the same file; read it whole
    this.logs.delete(file);
    return this.get(key);
  }

  set(key: string, value: string, time: number): void {
    if (value === '') throw new TypeError('an entry cannot be empty');
    this.append(key, value, time);
  }

  /** false when there was nothing to delete */
  delete(key: string, time: number): boolean {
    if (this.get(key) === undefined) return false;
    this.append(key, '', time);
    return true;
  }

  /** Every live record, each key's last, from every log. */
  list(): EntryRecord[] {
    const found: EntryRecord[] = [];
    for (const file of this.logFiles()) {
      for (const r of parseLog(readFileSync(file)).records.values()) if (r !== null) found.push(r);
    }
    return found;
  }

  /**
   * Rewrites every log with only its live records that `keep` accepts (each key's last line),
   * dropping removals, superseded and damaged lines; a log left empty is deleted. Each log is
   * replaced by a rename, so a reader sees it before or after. A line another process appends
   * between the read and the rename is lost: that entry becomes a miss (pruning holds the
   * project lock, so only another project sharing this cache folder could do that).
   */
  compact(keep: (record: EntryRecord) => boolean): { readonly kept: number; readonly dropped: number } {
    let kept = 0;
    let dropped = 0;
    for (const file of this.logFiles()) {
      const parsed = parseLog(readFileSync(file));
      let text = '';
      let live = 0;
      for (const r of parsed.records.values()) {
        if (r === null) continue;
        if (!keep(r)) {
          dropped++;
          continue;
        }
        text += lineOf(r.key, r.value, r.time);
        live++;
      }
      kept += live;
      if (live === 0) unlinkSync(file);
      else if (live !== parsed.lines || parsed.damaged) writeFileAtomicSyncNoFsync(file, text);
      this.logs.delete(file);
    }
    return { kept, dropped };
  }

  /** removes every log */
  clear(): void {
    rmSync(this.folder, { recursive: true, force: true });
    this.logs.clear();
    this.folderMade = false;
  }

  private logOf(key: string): string {
    return path.join(this.folder, sha256(key).slice(0, 2) + LOG_SUFFIX);
  }

  private logFiles(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.folder);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names.filter((n) => /^[0-9a-f]{2}\.log$/.test(n)).sort().map((n) => path.join(this.folder, n));
  }

  private append(key: string, value: string, time: number): void {
    if (/[\t\n]/.test(key) || value.includes('\n')) throw new TypeError('entry keys hold no tab or newline, values no newline');
    const file = this.logOf(key);
    const bytes = Buffer.from(lineOf(key, value, time), 'utf8');
    const fd = this.openForAppend(file);
    let size: number;
    let ino: number;
    let born: number;
    try {
      // one write: appends of a few hundred bytes land whole, and a torn one is only skipped
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
      ({ size, ino, birthtimeMs: born } = fstatSync(fd));
    } finally {
      closeSync(fd);
    }
    // Known up to just before this line, and nobody else appended: the line is known too, and
    // the next lookup in this log costs one stat instead of reading it back.
    const state = this.logs.get(file);
    const appended = value === '' ? null : { key, at: size - bytes.length, length: bytes.length };
    if (state !== undefined && state.ino === ino && state.born === born && state.size + bytes.length === size) {
      state.size = size;
      state.records.set(key, appended);
    } else if (state === undefined && size === bytes.length) {
      this.logs.set(file, { ino, born, size, records: new Map([[key, appended]]) });
    }
  }

  private openForAppend(file: string): number {
    if (!this.folderMade) {
      mkdirSync(this.folder, { recursive: true });
      this.folderMade = true;
      return openSync(file, 'a');
    }
    try {
      return openSync(file, 'a');
    } catch (e) {
      // the cache was cleared under a long-lived process (a served build): make the folder again
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(this.folder, { recursive: true });
      return openSync(file, 'a');
    }
  }
}

/** the file's stat; undefined when it or a folder on its path is missing */
function statIfAny(file: string): Stats | undefined {
  try {
    // without throwing for the usual miss (~9 µs an exception); a file where a folder should be throws ENOTDIR
    return statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function lineOf(key: string, value: string, time: number): string {
  const body = `${key}\t${time}\t${value}`;
  return `\n${sha1(body)}\t${body}`;
}

/** The line at `at` (its leading newline included), checked; undefined when it is not a good line. */
function readLineAt(file: string, { at, length }: Appended): EntryRecord | undefined {
  const buffer = Buffer.allocUnsafe(length);
  let got = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      got = readSync(fd, buffer, 0, length, at);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (got !== length || buffer[0] !== NEWLINE) return undefined;
  return parseLine(buffer.toString('utf8', 1));
}

/** Reads `file` from what `state` knows up to `size`, adding the records of whole lines. */
function readTail(file: string, state: LogState, size: number): void {
  const buffer = Buffer.allocUnsafe(size - state.size);
  const fd = openSync(file, 'r');
  let got = 0;
  try {
    while (got < buffer.length) {
      const n = readSync(fd, buffer, got, buffer.length - got, state.size + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  const parsed = parseLog(buffer.subarray(0, got));
  for (const [key, r] of parsed.records) state.records.set(key, r);
  // a last line that does not check may be an append still under way: read it again next time
  state.size += parsed.wholeBytes;
}

interface ParsedLog {
  /** each key's last good line (null: a removal), in the order keys first appear */
  readonly records: Map<string, EntryRecord | null>;
  /** good lines */
  readonly lines: number;
  /** whether any line failed its checksum or could not be read */
  readonly damaged: boolean;
  /** bytes up to the start of a damaged last line (all of them when the last line is good) */
  readonly wholeBytes: number;
}

function parseLog(bytes: Buffer): ParsedLog {
  const records = new Map<string, EntryRecord | null>();
  let lines = 0;
  let damaged = false;
  let wholeBytes = bytes.length;
  let start = bytes.indexOf(NEWLINE);
  while (start >= 0) {
    const next = bytes.indexOf(NEWLINE, start + 1);
    const end = next < 0 ? bytes.length : next;
    const record = parseLine(bytes.toString('utf8', start + 1, end));
    if (record === undefined) {
      damaged = true;
      if (next < 0) wholeBytes = start;
    } else {
      lines++;
      // a key's last line wins: delete first so the map's order follows the last lines
      records.delete(record.key);
      records.set(record.key, record.value === '' ? null : record);
    }
    start = next;
  }
  return { records, lines, damaged, wholeBytes };
}

function parseLine(line: string): EntryRecord | undefined {
  const tab = line.indexOf('\t');
  if (tab !== 40) return undefined;
  const body = line.slice(tab + 1);
  if (sha1(body) !== line.slice(0, tab)) return undefined;
  const keyEnd = body.indexOf('\t');
  const timeEnd = keyEnd < 0 ? -1 : body.indexOf('\t', keyEnd + 1);
  if (timeEnd < 0) return undefined;
  const time = Number(body.slice(keyEnd + 1, timeEnd));
  if (!Number.isFinite(time)) return undefined;
  return { key: body.slice(0, keyEnd), value: body.slice(timeEnd + 1), time };
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
