/**
 * Run logs: one `<uetDir>/runs/<ULID>.jsonl` per run, one JSON event per line.
 *
 * Each append is one synchronous write(2) of a whole line on an O_APPEND descriptor, so an
 * event is in the kernel (and survives a SIGKILL of the process) as soon as append() returns.
 * Measured: 20,000 appends of task-end events take ~65 ms on a disk-backed ext4, JSON
 * serialisation included, so no buffering is needed. A crash can at worst tear the last line;
 * readers drop it.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeTime, ulid } from 'ulid';
import { err, ok, type Result } from '../util/result.js';
import { holderIsAlive, readLockHolder } from './lock.js';
import { runLogPath } from './run-file.js';
import type { RunEvent, RunLog, TaskStatus } from './types.js';

/**
 * A run's status as seen from its log:
 * - success / failed / interrupted: what its run-end event says;
 * - running: no run-end yet, and its process still holds the project lock;
 * - incomplete: no run-end and its process is gone (killed, crashed, power loss).
 */
export type RunStatus = 'success' | 'failed' | 'interrupted' | 'incomplete' | 'running';

export interface RunSummary {
  readonly id: string;
  readonly path: string;
  /** ms since epoch: the run-start event, else the time encoded in the ULID */
  readonly startedAt: number;
  readonly status: RunStatus;
  /** from run-end; for a run without one, counted from its task-end events */
  readonly counts: Record<TaskStatus, number>;
  /** from run-end; for a run without one, up to its last recorded event */
  readonly durationMs: number;
  readonly targets: readonly string[];
  readonly argv: readonly string[];
  /** null when the run-start line itself is missing */
  readonly pid: number | null;
  /** tasks planned (run-start), null when unknown */
  readonly tasks: number | null;
}

export interface RunLogOptions {
  /** called once if the log cannot be written (disk full…); the build itself carries on */
  onError?: (message: string) => void;
}

export async function createRunLog(uetDir: string, runId: string = ulid(), opts: RunLogOptions = {}): Promise<RunLog> {
  if (!/^[0-9A-Za-z_-]+$/.test(runId)) throw new Error(`invalid run id: ${JSON.stringify(runId)}`);
  const dir = join(uetDir, 'runs');
  const path = runLogPath(uetDir, runId);
  mkdirSync(dir, { recursive: true });
  let fd: number | null = openSync(path, 'a', 0o644);

  const fail = (e: unknown): void => {
    // one failed write makes the file suspect (a torn line mid-file); stop rather than go on
    if (fd !== null) closeQuietly(fd);
    fd = null;
    opts.onError?.(`cannot write run log ${path}: ${e instanceof Error ? e.message : String(e)}`);
  };

  return {
    runId,
    path,
    append(event: RunEvent): void {
      if (fd === null) return; // closed or failed: events after that are dropped, not thrown
      const line = `${JSON.stringify(event)}\n`;
      try {
        const written = writeSync(fd, line);
        // a short write to a regular file is rare (disk full…), so check lazily: for ASCII,
        // bytes === chars; only otherwise is the byte length worth computing
        if (written !== line.length) {
          const bytes = Buffer.from(line, 'utf8');
          for (let done = written; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
        }
      } catch (e) {
        fail(e);
      }
    },
    async close(): Promise<void> {
      if (fd === null) return;
      closeQuietly(fd);
      fd = null;
    },
  };
}

/** Every recorded run, newest first (at most `limit`). */
export async function listRuns(uetDir: string, opts: { limit?: number } = {}): Promise<RunSummary[]> {
  const ids = (await runIds(uetDir)).reverse();
  const chosen = opts.limit === undefined ? ids : ids.slice(0, Math.max(0, opts.limit));
  const holder = readLockHolder(uetDir);
  const livePid = holder !== null && holderIsAlive(holder) ? holder.pid : null;
  const out: RunSummary[] = [];
  for (const id of chosen) {
    const summary = await summarize(runLogPath(uetDir, id), id, livePid);
    if (summary !== null) out.push(summary);
  }
  return out;
}

/** The events of run `id` ('last', a full id, or a unique prefix of one). */
export async function readRun(uetDir: string, id: string): Promise<Result<RunEvent[], string>> {
  const ids = await runIds(uetDir);
  if (ids.length === 0) return err('no runs recorded yet');
  let chosen: string;
  if (id === 'last') {
    chosen = ids[ids.length - 1]!;
  } else {
    const wanted = id.toUpperCase();
    const matches = ids.includes(wanted) ? [wanted] : ids.filter((r) => r.startsWith(wanted));
    if (matches.length === 0) return err(`no run matches '${id}'`);
    if (matches.length > 1) {
      const shown = matches.slice(0, 5).join(', ') + (matches.length > 5 ? ', …' : '');
      return err(`run id '${id}' is ambiguous: ${matches.length} runs match (${shown})`);
    }
    chosen = matches[0]!;
  }
  const path = runLogPath(uetDir, chosen);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return err(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseLines(text, path);
}

const ULID_FILE = /^([0-9A-HJKMNP-TV-Z]{26})\.jsonl$/;

/** Run ids, oldest first (ULIDs sort by time). */
async function runIds(uetDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(uetDir, 'runs'));
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const name of names) {
    const m = ULID_FILE.exec(name);
    if (m?.[1] !== undefined) ids.push(m[1]);
  }
  return ids.sort();
}

function parseLines(text: string, path: string): Result<RunEvent[], string> {
  const lines = text.split('\n');
  const events: RunEvent[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const event = parseEvent(line);
    if (event !== null) {
      events.push(event);
    } else if (i !== lines.length - 1) {
      // only the last line can be torn (a crash mid-write); anything else is corruption
      return err(`${path}:${i + 1}: not a valid event line`);
    }
  }
  return ok(events);
}

/**
 * Loose on purpose: later versions add event types (patch, worker, breaker), and `uet runs`
 * should still list them, so only the common fields are checked.
 */
function parseEvent(line: string): RunEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.type !== 'string' || typeof r.at !== 'number') return null;
  return v as RunEvent;
}

/** Big enough for any run-start or run-end line (argv and targets are the only variable parts). */
const EDGE_BYTES = 64 * 1024;

/**
 * Summarise from the first and last lines only, so listing hundreds of runs does not read
 * every event. A run without a run-end is read whole: it is rare, and its counts have to be
 * reconstructed from its task-end events.
 */
async function summarize(path: string, id: string, livePid: number | null): Promise<RunSummary | null> {
  let head: string;
  let tail: string;
  let size: number;
  try {
    const fh = await open(path, 'r');
    try {
      size = (await fh.stat()).size;
      head = await readAt(fh, 0, Math.min(size, EDGE_BYTES));
      tail = size <= EDGE_BYTES ? head : await readAt(fh, size - EDGE_BYTES, EDGE_BYTES);
    } finally {
      await fh.close();
    }
  } catch {
    return null; // vanished or unreadable: not listable
  }

  const newline = head.indexOf('\n');
  const first = parseEvent(newline === -1 ? head : head.slice(0, newline));
  const start = first?.type === 'run-start' ? first : null;
  const end = lastRunEnd(tail);

  const base = {
    id,
    path,
    startedAt: start?.at ?? ulidTime(id),
    targets: start?.targets ?? [],
    argv: start?.argv ?? [],
    pid: start?.pid ?? null,
    tasks: start?.tasks ?? null,
  };
  if (end !== null) return { ...base, status: end.status, counts: { ...emptyCounts(), ...end.counts }, durationMs: end.durationMs };

  const counts = emptyCounts();
  let lastAt = base.startedAt;
  const all = size <= EDGE_BYTES ? head : await readFile(path, 'utf8').catch(() => head);
  for (const line of all.split('\n')) {
    const ev = parseEvent(line);
    if (ev === null) continue;
    lastAt = Math.max(lastAt, ev.at);
    if (ev.type === 'task-end' && ev.status in counts) counts[ev.status]++;
  }
  const running = base.pid !== null && base.pid === livePid;
  return { ...base, status: running ? 'running' : 'incomplete', counts, durationMs: lastAt - base.startedAt };
}

type RunEnd = Extract<RunEvent, { type: 'run-end' }>;

function lastRunEnd(tail: string): RunEnd | null {
  const lines = tail.split('\n');
  // the run-end is the last complete line; a torn line after it cannot exist (nothing is
  // written after run-end), so look only at the last non-empty line
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line === '') continue;
    const ev = parseEvent(line);
    return ev?.type === 'run-end' ? ev : null;
  }
  return null;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<string> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead).toString('utf8');
}

function emptyCounts(): Record<TaskStatus, number> {
  return { fresh: 0, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0 };
}

function ulidTime(id: string): number {
  try {
    return decodeTime(id);
  } catch {
    return 0;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
