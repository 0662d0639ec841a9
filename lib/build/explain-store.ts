/**
 * The key parts of each task's last success (env values only as hashes), for `uet explain` and
 * for the reason a task re-runs, in one append-only file, .uet/explain.log; and .uet/logs/ with
 * the last run's log of each task that printed anything. Written only when a task runs or is
 * restored, so a no-op build touches none of them.
 *
 * One line per success, `{"t":taskId,"p":parts}`, each written with a newline before it (so a
 * line torn by a crash stands alone and is skipped); the last line about a task wins. A log
 * mostly of lines that no longer win is compacted when read whole. A file per
 * task cost a create and a rename on every task of a cold build, the dearest system calls there
 * are on a disk-backed folder (bench/RESULTS.md).
 */
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import { worthCompacting } from '../util/compaction.js';
import { forEachLine, lastLineWith } from '../util/lines.js';
import { readRange } from '../util/read-range.js';
import type { KeyParts } from './key.js';
import type { ExplainStore } from './services.js';

/** a log past this size is compacted by the first build that writes to it, even if it reads nothing */
const COMPACT_CHECK_BYTES = 8 * 1024 * 1024;
/** lookups answered by searching the file's bytes before it is read whole (and compacted) */
const LOOKUPS_BEFORE_LOAD = 16;
/** how much of the file's end is searched before the rest is read */
export const TAIL_BYTES = 256 * 1024;
const LINE_START = '{"t":';
const PARTS_AT = ',"p":';

/** A task id as a file name: readable, and no '/' so one folder holds them all. */
export function taskFileName(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9._-]/g, (c) => (c === '/' ? '__' : `%${c.charCodeAt(0).toString(16)}`));
}

export function createExplainStore(uetDir: string): ExplainStore {
  const file = path.join(uetDir, 'explain.log');
  const logDir = path.join(uetDir, 'logs');
  /** task id → its last line, once the file has been read whole */
  let lines: Map<string, string> | undefined;
  /** until then: the file's last TAIL_BYTES, then all its bytes, as first read; lines put since; and how many lookups were made */
  let tail: FileBytes | undefined;
  let bytes: FileBytes | undefined;
  const putSinceRead = new Map<string, string>();
  let lookups = 0;
  let sizeChecked = false;
  let logDirMade = false;

  const load = (): Map<string, string> => {
    if (lines) return lines;
    const loaded = new Map<string, string>();
    lines = loaded;
    tail = undefined;
    bytes = undefined;
    putSinceRead.clear();
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return loaded;
    }
    let count = 0;
    forEachLine(text, (line) => {
      const id = taskIdOf(line);
      if (id === undefined) return;
      count++;
      // re-inserted so that compaction keeps the order of last successes
      loaded.delete(id);
      loaded.set(id, line);
    });
    if (worthCompacting(count, loaded.size)) writeFileAtomicSyncNoFsync(file, [...loaded.values()].map((l) => `\n${l}`).join(''));
    return loaded;
  };

  /**
   * A build that re-runs a few of 10,000 tasks asks for a few lines of a ~5 MB file: those are
   * searched for in its bytes (~1 ms each), from the end, where the last success of a task is.
   * Decoding and indexing the whole file took ~27 ms (and its garbage more): worth it only
   * for many lookups. The end alone is searched first: a task that ran in one of the last few
   * builds (an edit-build loop's, on the same files) has its line there, and reading the whole
   * file took ~3.5 ms of such a build.
   */
  const lineOf = (taskId: string): string | undefined => {
    if (lines) return lines.get(taskId);
    const put = putSinceRead.get(taskId);
    if (put !== undefined) return put;
    if (++lookups > LOOKUPS_BEFORE_LOAD) return load().get(taskId);
    if (bytes === undefined) {
      tail ??= readEnd(file, TAIL_BYTES);
      const inTail = lastLineIn(tail, taskId);
      if (inTail !== undefined || tail.from === 0) return inTail;
      bytes = readEnd(file, Infinity);
    }
    return lastLineIn(bytes, taskId);
  };

  return {
    async get(taskId) {
      const line = lineOf(taskId);
      if (line === undefined) return undefined;
      try {
        return (JSON.parse(line) as { p: KeyParts }).p;
      } catch {
        return undefined;
      }
    },
    async put(taskId, parts) {
      if (!sizeChecked) {
        sizeChecked = true;
        try {
          if (statSync(file).size > COMPACT_CHECK_BYTES) load();
        } catch {
          mkdirSync(uetDir, { recursive: true });
          // the first log in this project: the file per task that uet kept before it is stale now
          rmSync(path.join(uetDir, 'explain'), { recursive: true, force: true });
        }
      }
      const line = JSON.stringify({ t: taskId, p: parts });
      // No fsync: losing the tail in a power cut only makes `explain` say less.
      appendFileSync(file, `\n${line}`);
      if (lines) {
        lines.delete(taskId);
        lines.set(taskId, line);
      } else if (tail !== undefined) {
        // the bytes searched predate this line; a file read later holds it already
        putSinceRead.set(taskId, line);
      }
    },
    async putLog(taskId, log) {
      if (!logDirMade) {
        mkdirSync(logDir, { recursive: true });
        logDirMade = true;
      }
      writeFileSync(path.join(logDir, `${taskFileName(taskId)}.log`), log);
    },
    logPath(taskId) {
      return path.join(logDir, `${taskFileName(taskId)}.log`);
    },
  };
}

/** Some of the log's bytes: those from offset `from` to its end. */
interface FileBytes {
  readonly from: number;
  readonly bytes: Buffer;
}

/** the file's last `max` bytes (all of them when it is shorter); none when there is no file */
function readEnd(file: string, max: number): FileBytes {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { from: 0, bytes: Buffer.alloc(0) };
  }
  try {
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - max);
    return { from, bytes: readRange(fd, from, size - from) };
  } finally {
    closeSync(fd);
  }
}

/**
 * The last well-formed line about `taskId` in the log's bytes, as a full load would keep it: a
 * torn line is skipped in favour of the one before it. In bytes that begin mid-file, a match at
 * their very start cannot be told to start a line: it is not taken, and the caller reads more.
 */
function lastLineIn({ from, bytes }: FileBytes, taskId: string): string | undefined {
  return lastLineWith(bytes, `${LINE_START}${JSON.stringify(taskId)}${PARTS_AT}`, (line) => (taskIdOf(line) === taskId ? line : undefined), from > 0);
}

/** the task id of a well-formed line, without parsing its parts */
function taskIdOf(line: string): string | undefined {
  if (!line.startsWith(LINE_START)) return undefined;
  const end = line.indexOf(PARTS_AT);
  if (end < 0 || !line.endsWith('}')) return undefined;
  // the common case, an id in quotes without escapes, needs no parse
  const quoted = line.slice(LINE_START.length, end);
  if (quoted.length >= 2 && quoted.startsWith('"') && quoted.endsWith('"') && !quoted.includes('\\')) {
    const id = quoted.slice(1, -1);
    if (!id.includes('"')) return id;
  }
  try {
    const id: unknown = JSON.parse(line.slice(LINE_START.length, end));
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
