import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { errnoCode } from '../util/errno.js';
import { worthCompacting } from '../util/compaction.js';
import { forEachLine, lastLineWith, NEWLINE } from '../util/lines.js';
import type { FreshLog, OutputFile, SuccessRecord } from './types.js';


/**
 * How an opened log is read. `lazily`: each task asked for is searched for from the file's end,
 * and only a build that asks about many tasks parses it all (a touch of 10,000 tasks asks about a
 * dozen; parsing the 2.7 MB took ~20 ms, searching ~0.3 ms a task). `whole`: parsed at once, for
 * a process that keeps the log open across builds.
 */
export type FreshLogReading = 'lazily' | 'whole';

/**
 * Opens (creating it and its folder if needed) the log at `file` and reads it once.
 *
 * One JSON object per line, as uet writes it: `{"t":taskId,"k":key,"o":[[path,hash,size,mode],...],"at":ms}`
 * for a success, `{"t":taskId,"k":null}` for a forgotten one; the last line about a task wins.
 * Lines are appended with one write(2) each, which survives the death of the process (not of the
 * machine: no fsync, a lost tail only means re-running tasks). A line cut short by a crash, or
 * otherwise unreadable, is skipped and the lines before and after it still count.
 */
export async function openFreshLog(file: string, reading: FreshLogReading = 'lazily'): Promise<FreshLog> {
  // on this thread: a touch waited ~2 ms for the thread pool's answer
  mkdirSync(path.dirname(file), { recursive: true });
  let bytes = Buffer.alloc(0);
  try {
    bytes = readFileSync(file);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
  const fd = openSync(file, 'a');
  const log = new AppendOnlyFreshLog(file, fd, bytes);
  if (reading === 'whole') log.readWhole();
  return log;
}

/** A line as parsed: outputs stay raw until asked for, so opening 10,000 records builds no objects for them. */
interface RawRecord {
  readonly k: string;
  readonly o: readonly unknown[];
  readonly at: number;
}

/**
 * A success as the log holds it: the line's text until the record is asked for (a touch of a
 * 10,000-task project asks for a few dozen; parsing all of them took ~18 ms), or parsed.
 */
type Held = string | RawRecord;

/**
 * Searching is worth it while it costs less than one parse of the whole file: each search reads
 * up to the whole file, so the bound is a count of searches, whatever the file's size.
 */
const SEARCHES_BEFORE_PARSING = 24;

/**
 * A log read lazily is parsed at close, to see whether compaction is worth it, only when its
 * appends since opening crossed a multiple of this many bytes: often enough that dead lines
 * never pile up unseen, rarely enough that a small build does not pay for a parse (a touch of a
 * 10,000-task project appends ~3 KB: one in ~20 parses the log).
 */
const COMPACTION_CHECK_BYTES = 64 * 1024;

/*
 * The log's states:
 *
 *   searched ──(too many searches, readWhole(), or a compaction check)──▶ parsed ──close()──▶ closed
 *      │                                                                                   ▲
 *      └────────────────────────────close()───────────────────────────────────────────────┘
 *
 * searched: `bytes` is the file as opened, `appended` what this process wrote since, by task.
 * parsed: `records` is every task's last line, the file's and this process's.
 */
class AppendOnlyFreshLog implements FreshLog {
  private fd: number | undefined;
  private readonly checked = new Map<string, SuccessRecord | null>();
  /** the file as opened; dropped once parsed */
  private bytes: Buffer | undefined;
  private readonly bytesAtOpen: number;
  private bytesAppended = 0;
  /** this process's last line about each task it wrote about while the file is only searched (null: forgotten) */
  private readonly appended = new Map<string, Held | null>();
  private appendedLines = 0;
  private searches = 0;
  /** every task's last line, once parsed */
  private records: Map<string, Held> | undefined;
  /** lines in the file, dead ones included (what compaction would save); known once parsed */
  private lines = 0;
  /** the file ends in a torn line: the next append must not be glued onto it */
  private tornTail: boolean;

  constructor(
    private readonly file: string,
    fd: number,
    bytes: Buffer,
  ) {
    this.fd = fd;
    this.bytes = bytes;
    this.bytesAtOpen = bytes.length;
    this.tornTail = bytes.length > 0 && bytes[bytes.length - 1] !== NEWLINE;
  }

  get(taskId: string): SuccessRecord | undefined {
    let rec = this.checked.get(taskId);
    if (rec === undefined) {
      const held = this.held(taskId);
      if (held === undefined || held === null) return undefined;
      // a line that does not parse, or whose output list is malformed, reads as no record at
      // all: the task just runs
      const raw = typeof held === 'string' ? rawRecord(held) : held;
      rec = raw === undefined ? null : toRecord(taskId, raw);
      this.checked.set(taskId, rec);
    }
    return rec ?? undefined;
  }

  invalidate(taskId: string): void {
    // nothing on disk says this task is fresh: no line needed
    if (!this.checked.has(taskId)) {
      const held = this.held(taskId);
      if (held === undefined || held === null) return;
    }
    this.append(JSON.stringify({ t: taskId, k: null }));
    this.keep(taskId, null);
  }

  record(rec: SuccessRecord): void {
    const raw: RawRecord = { k: rec.key, o: rec.outputs.map((o) => [o.path, o.hash, o.size, o.mode]), at: rec.at };
    this.append(serialize(rec.taskId, raw));
    this.keep(rec.taskId, raw);
  }

  /** parses the whole file now: what a process that keeps the log open for many builds wants */
  readWhole(): void {
    if (this.records !== undefined || this.bytes === undefined) return;
    const { records, lines } = parse(this.bytes.toString('utf8'));
    for (const [t, held] of this.appended) keepLast(records, t, held);
    this.records = records;
    this.lines = lines + this.appendedLines;
    this.bytes = undefined;
    this.appended.clear();
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    if (this.worthCompacting()) await this.rewrite();
  }

  async compact(): Promise<void> {
    if (this.fd === undefined || !this.worthCompacting()) return;
    closeSync(this.fd);
    this.fd = undefined;
    await this.rewrite();
    // the compacted file is a new one: appends go to it
    this.fd = openSync(this.file, 'a');
    this.tornTail = false;
  }

  /** the task's last line: its success (text or parsed), null when forgotten, undefined when none */
  private held(taskId: string): Held | null | undefined {
    if (this.records === undefined && this.appended.has(taskId)) return this.appended.get(taskId);
    if (this.records === undefined && this.searches++ >= SEARCHES_BEFORE_PARSING) this.readWhole();
    if (this.records !== undefined) return this.records.get(taskId);
    return lastLineOf(this.bytes!, taskId);
  }

  private keep(taskId: string, held: Held | null): void {
    if (this.records !== undefined) keepLast(this.records, taskId, held);
    else {
      // a forgotten task must stay forgotten here: its older success is still in `bytes`
      this.appended.delete(taskId);
      this.appended.set(taskId, held);
    }
    this.checked.delete(taskId);
  }

  private worthCompacting(): boolean {
    if (this.records === undefined) {
      const crossed = Math.floor(this.bytesAtOpen / COMPACTION_CHECK_BYTES) !== Math.floor((this.bytesAtOpen + this.bytesAppended) / COMPACTION_CHECK_BYTES);
      if (!crossed) return false;
      this.readWhole();
    }
    return worthCompacting(this.lines, this.records!.size);
  }

  /** the live records only, in a file that replaces the log */
  private async rewrite(): Promise<void> {
    let text = '';
    for (const [t, held] of this.records!) text += (typeof held === 'string' ? held : serialize(t, held)) + '\n';
    // A crash of the process during the swap leaves either the old log or the new one, both
    // complete. Not synced, as the appends are not: a crash of the machine can at worst lose
    // records, and a lost record only re-runs its task (the sync stalled a build ~40 ms here).
    await writeFileAtomic(this.file, text, { fsync: false });
    this.lines = this.records!.size;
  }

  private append(line: string): void {
    if (this.fd === undefined) throw new Error('fresh log used after close()');
    const text = (this.tornTail ? '\n' : '') + line + '\n';
    appendFileSync(this.fd, text);
    this.tornTail = false;
    this.bytesAppended += Buffer.byteLength(text);
    if (this.records !== undefined) this.lines++;
    else this.appendedLines++;
  }
}

function serialize(taskId: string, raw: RawRecord): string {
  return JSON.stringify({ t: taskId, k: raw.k, o: raw.o, at: raw.at });
}

function toRecord(taskId: string, raw: RawRecord): SuccessRecord | null {
  const outputs: OutputFile[] = [];
  for (const row of raw.o) {
    if (!Array.isArray(row) || row.length !== 4) return null;
    const [p, hash, size, mode] = row as unknown[];
    if (typeof p !== 'string' || typeof hash !== 'string' || typeof size !== 'number' || typeof mode !== 'number') return null;
    outputs.push({ path: p, hash, size, mode });
  }
  return { taskId, key: raw.k, outputs, at: raw.at };
}

/** how a line about a task begins, up to its id: `{"t":` and the id as JSON writes it */
const LINE_START = '{"t":"';
/** how an intact success line ends (a line cut short by a crash does not) */
const LINE_END = /,"at":\d+\}$/;

/** how every line about `taskId` begins, as uet writes it, up to its key */
function linePrefix(taskId: string): string {
  return `{"t":${JSON.stringify(taskId)},"k":`;
}

function parse(text: string): { records: Map<string, Held>; lines: number } {
  const records = new Map<string, Held>();
  let lines = 0;
  forEachLine(text, (line) => {
    lines++;
    const said = lineSays(line);
    if (said !== undefined) keepLast(records, said.t, said.held);
  });
  return { records, lines };
}

/**
 * The last line in `bytes` about `taskId` that says something (lineSays): found by searching
 * backwards for the beginning every such line has, so that a search and a parse of the whole file
 * agree on every line.
 */
function lastLineOf(bytes: Buffer, taskId: string): Held | null | undefined {
  return lastLineWith(bytes, linePrefix(taskId), (line) => {
    const said = lineSays(line);
    return said !== undefined && said.t === taskId ? said : undefined;
  })?.held;
}

/**
 * What a line says: a task's success (kept as text when it looks intact, so that opening builds
 * no objects) or that the task is forgotten (held null); undefined for anything else (a line cut
 * short by a crash, garbage), which is skipped. A line counts only as uet writes it, beginning
 * with linePrefix(t): a search for a task's lines finds exactly the lines a parse would take. A
 * success line that is intact at both ends but damaged inside is taken as a success and reads as
 * no record when asked for: that task runs again.
 */
function lineSays(line: string): { readonly t: string; readonly held: Held | null } | undefined {
  if (!line.startsWith(LINE_START)) return undefined;
  const close = line.indexOf('"', LINE_START.length);
  if (close < 0) return undefined;
  const t = line.slice(LINE_START.length, close);
  // an id with escapes: JSON.parse decides what it is
  if (t.includes('\\')) return lineSaysParsed(line);
  if (line.startsWith(',"k":null}', close + 1) && line.length === close + 11) return { t, held: null };
  if (line.startsWith(',"k":"', close + 1) && LINE_END.test(line)) return { t, held: line };
  return lineSaysParsed(line);
}

function lineSaysParsed(line: string): { readonly t: string; readonly held: RawRecord | null } | undefined {
  const said = lineOf(parsedLine(line));
  if (said === undefined || !line.startsWith(linePrefix(said.t))) return undefined;
  return { t: said.t, held: said.raw };
}

/** a task's latest line: its success (`null`: forgotten) */
function keepLast(records: Map<string, Held>, t: string, held: Held | null): void {
  // re-inserted so that the map's order, which compaction writes out, follows the last success
  records.delete(t);
  if (held !== null) records.set(t, held);
}

/** a line's JSON value, or undefined when it is not JSON (torn, or garbage) */
function parsedLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

/** a kept line's record, or undefined when it is not one */
function rawRecord(line: string): RawRecord | undefined {
  return lineOf(parsedLine(line))?.raw ?? undefined;
}

/** a parsed line: a task's success, or (raw null) a forgotten task; undefined when it is neither */
function lineOf(v: unknown): { readonly t: string; readonly raw: RawRecord | null } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { t, k, o, at } = v as Record<string, unknown>;
  if (typeof t !== 'string') return undefined;
  if (k === null) return { t, raw: null };
  if (typeof k !== 'string' || typeof at !== 'number' || !Array.isArray(o)) return undefined;
  return { t, raw: { k, o: o as unknown[], at } };
}
