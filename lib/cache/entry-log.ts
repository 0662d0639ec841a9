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
 * A reader keeps where each key's last line is in each log it read, with the log's inode and the
 * size it had read: asked again, a log that only grew is read from there on, and one replaced by
 * a compaction (another file) or cut shorter is read again whole. Reading a log only finds the
 * keys of its lines; a line is decoded and its checksum checked when its key is asked for (one
 * read of those bytes), and one that fails sends the reader through every line of the log,
 * checked, for the key's last good one. So a miss costs the log's keys, never its values (a
 * touch of 10,000 tasks spent ~3 ms checking and decoding the 40 lines of each log it asked).
 * A miss of a log never stored costs one stat.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { sha1, sha256 } from '../hash/digest.js';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import { errnoCode } from '../util/errno.js';
import { NEWLINE } from '../util/lines.js';
import { readRange } from '../util/read-range.js';

export const ENTRY_LOG_DIR = 'entries-v1';
const LOG_SUFFIX = '.log';
const TAB = 0x09;
/** the checksum's length: sha1 in hex */
const SHA1_HEX = 40;

/** The live value of a key, and when it was stored. */
export interface EntryRecord {
  readonly key: string;
  readonly value: string;
  /** ms since epoch */
  readonly time: number;
}

/**
 * Where a key's last line is in its log: `at` is the offset of its leading newline, `length`
 * counts it. `record`: the line as read and checked, where the reader did check every line.
 */
interface LineRef {
  readonly at: number;
  readonly length: number;
  readonly record?: EntryRecord;
}

/**
 * What a reader knows of one log: where each key's last line is, as of `size` bytes of the file
 * `ino` born at `born` (a file system that reuses inode numbers soon, like XFS, could give a
 * compacted log its predecessor's; its birth time tells them apart where it has one).
 */
interface LogState {
  readonly ino: number;
  readonly born: number;
  size: number;
  readonly lines: Map<string, LineRef>;
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
    const state = this.stateOf(file);
    const ref = state?.lines.get(key);
    if (ref === undefined) return undefined;
    const line = ref.record ?? readLineAt(file, ref);
    if (line !== undefined && line.key === key) return line.value === '' ? undefined : line;
    // A damaged line, or the log changed under the same file: the key's last good line, from
    // every line of the log checked.
    const checked = checkedState(file);
    if (checked === undefined) {
      this.logs.delete(file);
      return undefined;
    }
    this.logs.set(file, checked);
    const good = checked.lines.get(key)?.record;
    return good === undefined || good.value === '' ? undefined : good;
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
      for (const r of checkedRecords(scanLog(readFileSync(file), 0, 'every'))) if (r.value !== '') found.push(r);
    }
    return found;
  }

  /**
   * Rewrites every log with only its live records that `keep` accepts (each key's last line),
   * dropping removals, superseded and damaged lines; a log left empty is deleted. Each log is
   * replaced by a rename, so a reader sees it before or after (without fsync: a power cut at
   * worst loses the log, whose entries become misses). A line another process appends
   * between the read and the rename is lost: that entry becomes a miss (pruning holds the
   * project lock, so only another project sharing this cache folder could do that).
   */
  compact(keep: (record: EntryRecord) => boolean): { readonly kept: number; readonly dropped: number } {
    let kept = 0;
    let dropped = 0;
    for (const file of this.logFiles()) {
      const parsed = scanLog(readFileSync(file), 0, 'every');
      let text = '';
      let live = 0;
      for (const r of checkedRecords(parsed)) {
        if (r.value === '') continue;
        if (!keep(r)) {
          dropped++;
          continue;
        }
        text += lineOf(r.key, r.value, r.time);
        live++;
      }
      kept += live;
      if (live === 0) unlinkSync(file);
      else if (live !== parsed.good || parsed.damaged) writeFileAtomicSyncNoFsync(file, text);
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

  /** what this reader knows of `file`, read on as far as it goes now; undefined when there is no such log */
  private stateOf(file: string): LogState | undefined {
    const st = statIfAny(file);
    if (st === undefined) {
      this.logs.delete(file);
      return undefined;
    }
    let state = this.logs.get(file);
    if (state === undefined || state.ino !== st.ino || state.born !== st.birthtimeMs || st.size < state.size) {
      state = { ino: st.ino, born: st.birthtimeMs, size: 0, lines: new Map() };
      this.logs.set(file, state);
    }
    if (st.size > state.size && !readTail(file, state, st.size)) {
      // replaced or removed between the stat and the read: what is there now, read whole
      const whole = checkedState(file);
      if (whole === undefined) this.logs.delete(file);
      else this.logs.set(file, whole);
      return whole;
    }
    return state;
  }

  private logOf(key: string): string {
    return path.join(this.folder, sha256(key).slice(0, 2) + LOG_SUFFIX);
  }

  private logFiles(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.folder);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return [];
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
    // Its value is read back when asked for (rarely: a later build of a served session), not
    // kept: a cold build of 10,000 tasks kept ~6 MB of entries it never read again.
    const state = this.logs.get(file);
    const ref = { at: size - bytes.length, length: bytes.length };
    if (state !== undefined && state.ino === ino && state.born === born && state.size + bytes.length === size) {
      state.size = size;
      state.lines.delete(key);
      state.lines.set(key, ref);
    } else if (state === undefined && size === bytes.length) {
      this.logs.set(file, { ino, born, size, lines: new Map([[key, ref]]) });
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
      if (errnoCode(e) !== 'ENOENT') throw e;
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
    if (errnoCode(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

function lineOf(key: string, value: string, time: number): string {
  const body = `${key}\t${time}\t${value}`;
  return `\n${sha1(body)}\t${body}`;
}

/** The line at `at` (its leading newline included), checked; undefined when it is not a good line. */
function readLineAt(file: string, { at, length }: LineRef): EntryRecord | undefined {
  let buffer: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      buffer = readRange(fd, at, length);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (buffer.length !== length || buffer[0] !== NEWLINE) return undefined;
  return parseLine(buffer.toString('utf8', 1));
}

/**
 * Reads `file` from what `state` knows up to `size`, adding where whole lines' keys are. False
 * when the file is no longer the one `state` describes (replaced or removed since its stat):
 * read at the old offsets, another file's lines would be taken for this one's.
 */
function readTail(file: string, state: LogState, size: number): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw e;
  }
  let tail: Buffer;
  try {
    const now = fstatSync(fd);
    if (now.ino !== state.ino || now.birthtimeMs !== state.born) return false;
    tail = readRange(fd, state.size, size - state.size);
  } finally {
    closeSync(fd);
  }
  const scanned = scanLog(tail, state.size, 'last');
  for (const [key, ref] of scanned.lines) {
    state.lines.delete(key);
    state.lines.set(key, ref);
  }
  // a last line that does not check may be an append still under way: read it again next time
  state.size += scanned.wholeBytes;
  return true;
}

/** the whole of `file`, every line checked; undefined when it cannot be read */
function checkedState(file: string): LogState | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const { ino, birthtimeMs: born } = fstatSync(fd);
    const scanned = scanLog(readFileSync(fd), 0, 'every');
    return { ino, born, size: scanned.wholeBytes, lines: scanned.lines };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

interface ScannedLog {
  /** where each key's last line is (its last good one, where every line was checked), in the order keys last appear */
  readonly lines: Map<string, LineRef>;
  /** lines whose key was found (and, where checked, whose checksum matched) */
  readonly good: number;
  /** whether any line failed its checksum or could not be read */
  readonly damaged: boolean;
  /** bytes up to the start of a damaged last line (all of them when the last line is good) */
  readonly wholeBytes: number;
}

/**
 * The lines of `bytes`, which begin `base` bytes into their log. `every`: each line decoded and
 * checked (the refs carry their records); `last`: only the last line is, to tell an append still
 * under way, and the others only have their keys found.
 */
function scanLog(bytes: Buffer, base: number, check: 'every' | 'last'): ScannedLog {
  const lines = new Map<string, LineRef>();
  let good = 0;
  let damaged = false;
  let wholeBytes = bytes.length;
  let start = bytes.indexOf(NEWLINE);
  while (start >= 0) {
    const next = bytes.indexOf(NEWLINE, start + 1);
    const end = next < 0 ? bytes.length : next;
    let key: string | undefined;
    let record: EntryRecord | undefined;
    if (check === 'every' || next < 0) {
      record = parseLine(bytes.toString('utf8', start + 1, end));
      key = record?.key;
    } else {
      key = keyOfLine(bytes, start, end);
    }
    if (key === undefined) {
      damaged = true;
      if (next < 0) wholeBytes = start;
    } else {
      good++;
      // a key's last line wins: delete first so the map's order follows the last lines
      lines.delete(key);
      lines.set(key, check === 'every' && record !== undefined ? { at: base + start, length: end - start, record } : { at: base + start, length: end - start });
    }
    start = next;
  }
  return { lines, good, damaged, wholeBytes };
}

/** the records of a log scanned with every line checked, in the order keys last appear */
function* checkedRecords(scanned: ScannedLog): Generator<EntryRecord> {
  for (const ref of scanned.lines.values()) if (ref.record !== undefined) yield ref.record;
}

/** the key of the line [start, end) (its leading newline at `start`), unchecked: the field between the checksum and the time */
function keyOfLine(bytes: Buffer, start: number, end: number): string | undefined {
  const keyAt = start + 1 + SHA1_HEX + 1;
  if (keyAt > end || bytes[keyAt - 1] !== TAB) return undefined;
  const keyEnd = bytes.indexOf(TAB, keyAt);
  return keyEnd < 0 || keyEnd >= end ? undefined : bytes.toString('utf8', keyAt, keyEnd);
}

function parseLine(line: string): EntryRecord | undefined {
  const tab = line.indexOf('\t');
  if (tab !== SHA1_HEX) return undefined;
  const body = line.slice(tab + 1);
  if (sha1(body) !== line.slice(0, tab)) return undefined;
  const keyEnd = body.indexOf('\t');
  const timeEnd = keyEnd < 0 ? -1 : body.indexOf('\t', keyEnd + 1);
  if (timeEnd < 0) return undefined;
  const time = Number(body.slice(keyEnd + 1, timeEnd));
  if (!Number.isFinite(time)) return undefined;
  return { key: body.slice(0, keyEnd), value: body.slice(timeEnd + 1), time };
}
