import { appendFileSync, closeSync, openSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { worthCompacting } from '../util/compaction.js';
import { forEachLine } from '../util/lines.js';
import type { FreshLog, OutputFile, SuccessRecord } from './types.js';


/**
 * Opens (creating it and its folder if needed) the log at `file` and reads it once.
 *
 * One JSON object per line: `{"t":taskId,"k":key,"o":[[path,hash,size,mode],...],"at":ms}` for a
 * success, `{"t":taskId,"k":null}` for a forgotten one; the last line about a task wins. Lines
 * are appended with one write(2) each, which survives the death of the process (not of the
 * machine: no fsync, a lost tail only means re-running tasks). A line cut short by a crash, or
 * otherwise unreadable, is skipped and the lines after it still count.
 */
export async function openFreshLog(file: string): Promise<FreshLog> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  let text = '';
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { records, lines } = parse(text);
  const fd = openSync(file, 'a');
  return new AppendOnlyFreshLog(file, fd, records, lines, text.length > 0 && !text.endsWith('\n'));
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

class AppendOnlyFreshLog implements FreshLog {
  private fd: number | undefined;
  private readonly checked = new Map<string, SuccessRecord | null>();

  constructor(
    private readonly file: string,
    fd: number,
    private readonly records: Map<string, Held>,
    /** lines in the file, dead ones included: what compaction would save */
    private lines: number,
    /** the file ends in a torn line: the next append must not be glued onto it */
    private tornTail: boolean,
  ) {
    this.fd = fd;
  }

  get(taskId: string): SuccessRecord | undefined {
    let rec = this.checked.get(taskId);
    if (rec === undefined) {
      const held = this.records.get(taskId);
      if (held === undefined) return undefined;
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
    if (!this.records.has(taskId)) return;
    this.append(JSON.stringify({ t: taskId, k: null }));
    this.records.delete(taskId);
    this.checked.delete(taskId);
  }

  record(rec: SuccessRecord): void {
    const raw: RawRecord = { k: rec.key, o: rec.outputs.map((o) => [o.path, o.hash, o.size, o.mode]), at: rec.at };
    this.append(serialize(rec.taskId, raw));
    this.records.delete(rec.taskId);
    this.records.set(rec.taskId, raw);
    this.checked.delete(rec.taskId);
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    if (worthCompacting(this.lines, this.records.size)) await this.rewrite();
  }

  async compact(): Promise<void> {
    if (this.fd === undefined || !worthCompacting(this.lines, this.records.size)) return;
    closeSync(this.fd);
    this.fd = undefined;
    await this.rewrite();
    // the compacted file is a new one: appends go to it
    this.fd = openSync(this.file, 'a');
    this.tornTail = false;
  }

  /** the live records only, in a file that replaces the log */
  private async rewrite(): Promise<void> {
    let text = '';
    for (const [t, held] of this.records) text += (typeof held === 'string' ? held : serialize(t, held)) + '\n';
    // a crash during the swap leaves either the old log or the new one, both complete
    await writeFileAtomic(this.file, text);
    this.lines = this.records.size;
  }

  private append(line: string): void {
    if (this.fd === undefined) throw new Error('fresh log used after close()');
    appendFileSync(this.fd, (this.tornTail ? '\n' : '') + line + '\n');
    this.tornTail = false;
    this.lines++;
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

/** how a success line begins: the id follows, then `","k":` */
const LINE_START = '{"t":"';
/** how an intact success line ends (a line cut short by a crash does not) */
const LINE_END = /,"at":\d+\}$/;

function parse(text: string): { records: Map<string, Held>; lines: number } {
  const records = new Map<string, Held>();
  let lines = 0;
  forEachLine(text, (line) => {
    lines++;
    if (!applyLine(records, line)) apply(records, parsedLine(line));
  });
  return { records, lines };
}

/**
 * A line as uet writes it, read without parsing it: its task id (one without escapes), and
 * either a forgotten task or a success kept as text. False: anything else, which JSON.parse
 * then decides. A success line that is intact at both ends but damaged inside is taken as a
 * success and reads as no record when asked for: that task runs again.
 */
function applyLine(records: Map<string, Held>, line: string): boolean {
  if (!line.startsWith(LINE_START)) return false;
  const close = line.indexOf('"', LINE_START.length);
  if (close < 0) return false;
  const t = line.slice(LINE_START.length, close);
  if (t.includes('\\')) return false;
  if (line.startsWith(',"k":null}', close + 1) && line.length === close + 11) {
    keepLast(records, t, null);
    return true;
  }
  if (!line.startsWith(',"k":"', close + 1) || !LINE_END.test(line)) return false;
  keepLast(records, t, line);
  return true;
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

function apply(records: Map<string, Held>, v: unknown): void {
  const line = lineOf(v);
  if (line !== undefined) keepLast(records, line.t, line.raw);
}
