import { appendFileSync, closeSync, openSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { worthCompacting } from '../util/compaction.js';
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

class AppendOnlyFreshLog implements FreshLog {
  private fd: number | undefined;
  private readonly checked = new Map<string, SuccessRecord | null>();

  constructor(
    private readonly file: string,
    fd: number,
    private readonly records: Map<string, RawRecord>,
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
      const raw = this.records.get(taskId);
      if (raw === undefined) return undefined;
      // a line with a malformed output list reads as no record at all: the task just runs
      rec = toRecord(taskId, raw);
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
    if (worthCompacting(this.lines, this.records.size)) {
      let text = '';
      for (const [t, raw] of this.records) text += serialize(t, raw) + '\n';
      // a crash during the swap leaves either the old log or the new one, both complete
      await writeFileAtomic(this.file, text);
      this.lines = this.records.size;
    }
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

function parse(text: string): { records: Map<string, RawRecord>; lines: number } {
  const records = new Map<string, RawRecord>();
  // Fast path: an intact log is a JSON array once its newlines become commas, and one
  // JSON.parse of the whole file is several times faster than one per line.
  if (text.endsWith('\n')) {
    let all: unknown;
    try {
      all = JSON.parse(`[${text.slice(0, -1).replaceAll('\n', ',')}]`);
    } catch {
      all = undefined; // a torn or garbage line somewhere: go line by line
    }
    if (Array.isArray(all)) {
      for (const v of all as unknown[]) apply(records, v);
      return { records, lines: all.length };
    }
  }
  let lines = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      lines++;
      let v: unknown;
      try {
        v = JSON.parse(text.slice(start, end));
      } catch {
        v = undefined;
      }
      apply(records, v);
    }
    start = end + 1;
  }
  return { records, lines };
}

function apply(records: Map<string, RawRecord>, v: unknown): void {
  if (typeof v !== 'object' || v === null) return;
  const { t, k, o, at } = v as Record<string, unknown>;
  if (typeof t !== 'string') return;
  if (k === null) {
    records.delete(t);
    return;
  }
  if (typeof k !== 'string' || typeof at !== 'number' || !Array.isArray(o)) return;
  // re-inserted so that the map's order, which compaction writes out, follows the last success
  records.delete(t);
  records.set(t, { k, o: o as unknown[], at });
}
