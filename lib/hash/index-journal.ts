/**
 * The stat index's journal: what changed since the index file was last written, appended
 * beside it (`<index>.journal`), so a build that re-hashed a handful of files does not rewrite
 * every row. Rewriting was the largest part of an edit's rebuild: at 10,000 tasks the index is
 * 2.9 MB of 20,000 rows, ~45 ms to assemble and write, against ~1 ms to append the few rows a
 * build changed. The hasher folds the journal into the index once it outgrows its bound
 * (journalLimit in lib/hash/file-hasher.ts).
 *
 * The text:
 *
 *     uet-stat-journal 2 <the index file it extends: inode:size:mtime>
 *
 *     B <batch id>
 *     +["path",size,"mtime","ctime","ino",mode,"hash"]    a row, as the index writes it
 *     -"path"                                             a path whose row no longer counts
 *     C <batch id> <the journal's mtime after the batch> <sha1 of the batch's lines>
 *
 * A batch is one write and its commit line a second, once the file system has stamped the
 * first: the commit carries that time, which the index's racy-write rule needs for every row it
 * trusts (lib/hash/file-hasher.ts). A batch counts only once a commit line with its id and a
 * matching checksum follows, wherever another writer's batch fell between the two writes; a
 * torn append (a crash) loses that batch, never turns into a wrong row. A journal whose first
 * line names another index file (one rewritten since) is not read: its rows are folded in
 * already, or were lost with a crash, which only costs reading those files again.
 *
 * Rows hold no raw newline: JSON escapes one inside a path.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync, type BigIntStats } from 'node:fs';
import { sha1 } from './digest.js';
import { quotedAt, unquotedPath } from './index-rows.js';
import { decodeText } from '../util/read-text.js';

const HEADER = 'uet-stat-journal 2 ';
const BATCH = 'B ';
const COMMIT = 'C ';
const ROW = '+';
const REMOVED = '-';
/** batches this process appended: with its pid, a batch's id */
let batches = 0;

/** A path's state as a batch of the journal left it: its row's text, or null when it no longer counts. */
export interface JournalChange {
  readonly path: string;
  readonly row: string | null;
  /** the commit time of its batch (ns, the file system's clock, in decimal) */
  readonly writtenNs: string;
}

/** Names the index file a journal extends: a rewrite (a new file) gets another name. */
export function indexFileId(st: BigIntStats): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}`;
}

/**
 * The committed changes of the journal at `file`, in order, and its size in bytes; undefined
 * when there is none, or when it extends another index file than `indexId`.
 */
export function readJournal(file: string, indexId: string): { readonly changes: JournalChange[]; readonly bytes: number } | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  const text = decodeText(bytes);
  const firstEnd = text.indexOf('\n');
  if (firstEnd < 0 || text.slice(0, firstEnd) !== HEADER + indexId) return undefined;
  const changes: JournalChange[] = [];
  /** batches written and not yet committed, by id */
  const open = new Map<string, string[]>();
  /** the batch the lines being read belong to: its rows follow its B line, in the same write */
  let batch: string[] | undefined;
  for (const line of text.slice(firstEnd + 1).split('\n')) {
    if (line.startsWith(BATCH)) {
      batch = [];
      open.set(line.slice(BATCH.length), batch);
    } else if (line.startsWith(COMMIT)) {
      const [id, writtenNs, sum] = line.slice(COMMIT.length).split(' ');
      const committed = id === undefined ? undefined : open.get(id);
      if (committed !== undefined && id !== undefined) {
        open.delete(id);
        commit(committed, writtenNs, sum, changes);
      }
      batch = undefined;
    } else if (line.startsWith(ROW) || line.startsWith(REMOVED)) batch?.push(line);
    // anything else (the blank line a write opens with, a torn line) belongs to no batch
    else batch = undefined;
  }
  return { changes, bytes: bytes.length };
}

function commit(batch: readonly string[], writtenNs: string | undefined, sum: string | undefined, into: JournalChange[]): void {
  if (writtenNs === undefined || !/^\d+$/.test(writtenNs) || sum !== sha1(batch.join('\n'))) return;
  for (const line of batch) {
    if (line.startsWith(ROW)) {
      const row = line.slice(ROW.length);
      const quoted = quotedAt(row, 0);
      const p = quoted === undefined ? undefined : unquotedPath(quoted);
      if (p !== undefined) into.push({ path: p, row, writtenNs });
    } else {
      const quoted = line.slice(REMOVED.length);
      const p = quoted.length >= 2 && quoted.startsWith('"') && quoted.endsWith('"') ? unquotedPath(quoted) : undefined;
      if (p !== undefined) into.push({ path: p, row: null, writtenNs });
    }
  }
}

/** A line of a batch: a path's row, or its removal (`quoted`: the path as JSON quotes it). */
export type JournalLine = { readonly row: string } | { readonly removedQuoted: string };

/**
 * Appends one batch; starts the journal (header first, any older one cut away) when `fresh`.
 * Returns the journal's size after it, or undefined when it could not be written; an existing
 * journal that has gone meanwhile (another process folded it in) is not started again.
 */
export function appendJournal(file: string, indexId: string, fresh: boolean, lines: readonly JournalLine[]): number | undefined {
  const body = lines.map((l) => ('row' in l ? ROW + l.row : REMOVED + l.removedQuoted)).join('\n');
  // unique among the journal's writers: another process's batch may fall between our writes
  const id = `${process.pid.toString(36)}.${(++batches).toString(36)}`;
  let fd: number;
  try {
    fd = openSync(file, fresh ? constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND : constants.O_WRONLY | constants.O_APPEND, 0o644);
  } catch {
    return undefined;
  }
  try {
    // leading newline: a torn line left by an earlier append ends here instead of swallowing B
    writeSync(fd, `${fresh ? `${HEADER}${indexId}\n` : ''}\n${BATCH}${id}\n${body}\n`);
    // the batch's time on the file system's clock, as the index's rows get their file's mtime
    const writtenNs = fstatSync(fd, { bigint: true }).mtimeNs;
    writeSync(fd, `\n${COMMIT}${id} ${writtenNs} ${sha1(body)}\n`);
    return fstatSync(fd).size;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
