import type { Result } from '../util/result.js';

/**
 * Bumped whenever the meaning of a key or the layout of an entry changes: old entries become
 * misses. 2: entries keep small outputs and logs themselves (`inline`), which a reader of 1
 * would take for missing blobs.
 */
export const CACHE_FORMAT_VERSION = 2;

/** keyv's namespace for the local store's entries: their keys in the entry logs begin `entry:` */
export const ENTRY_NAMESPACE = 'entry';

export interface OutputFile {
  /** root-relative, forward slashes */
  readonly path: string;
  /** sha256 hex of the content */
  readonly hash: string;
  readonly size: number;
  readonly mode: number;
}

/** What a task's success left behind, as stored in the cache under its key. */
export interface CacheEntry {
  readonly formatVersion: number;
  readonly key: string;
  readonly taskId: string;
  readonly outputs: readonly OutputFile[];
  /** sha256 hex of the captured log */
  readonly logHash: string;
  readonly createdAt: number;
  /**
   * The bytes (base64) of small outputs and a small log, by content hash: kept in the entry
   * itself rather than as blobs of their own. Content whose hash is here has no blob.
   */
  readonly inline?: Readonly<Record<string, string>>;
}

/** the bytes with this hash kept in the entry (base64), or undefined when they are a blob */
export function keptInEntry(entry: CacheEntry, hash: string): string | undefined {
  return entry.inline !== undefined && Object.hasOwn(entry.inline, hash) ? entry.inline[hash] : undefined;
}

/** the hashes of the blobs an entry names: its outputs and its log, but for what it keeps itself */
export function blobHashes(entry: CacheEntry): string[] {
  return [...entry.outputs.map((o) => o.hash), entry.logHash].filter((h) => keptInEntry(entry, h) === undefined);
}

export type CacheFailure =
  | { readonly reason: 'corrupt'; readonly detail: string } // a blob or entry failed its integrity check
  | { readonly reason: 'missing-blob'; readonly detail: string }
  | { readonly reason: 'io'; readonly detail: string }; // could not read or write (read-only folder, disk full)

/**
 * The local content-addressed cache. Blobs live in a cacache store (integrity-checked on
 * every read); entries are reached through keyv over that same store, so a shared
 * (Redis) keyv can be layered in front later without touching callers.
 */
export interface CacheStore {
  /** undefined on a miss, and on an entry that cannot be read or fails its check */
  get(key: string): Promise<CacheEntry | undefined>;
  /** reads each output from `root` and stores blobs + entry; the log is stored as a blob */
  put(key: string, taskId: string, root: string, outputs: readonly OutputFile[], log: string): Promise<Result<CacheEntry, CacheFailure>>;
  /**
   * Writes the entry's outputs under `root`. Every blob is read and verified BEFORE any
   * file is written; each file is written to a temporary name and renamed into place,
   * with its mode. On failure nothing is written and the entry should be treated as a miss.
   */
  restore(entry: CacheEntry, root: string): Promise<Result<void, CacheFailure>>;
  readLog(entry: CacheEntry): Promise<string | undefined>;
  delete(key: string): Promise<void>;
  clear(): Promise<void>;
}

/** The last success of a task: the key it had and the outputs it left (for freshness). */
export interface SuccessRecord {
  readonly taskId: string;
  readonly key: string;
  readonly outputs: readonly OutputFile[];
  /** ms since epoch */
  readonly at: number;
}

/**
 * Every task's last success in one compact append-only file (like .ninja_log), loaded once
 * per build: a no-op at 10,000 tasks makes one read, not 10,000 lookups.
 * A torn last line (a crash mid-append) is ignored; the file is compacted when garbage
 * outweighs live records.
 */
export interface FreshLog {
  get(taskId: string): SuccessRecord | undefined;
  /** durably forget a task's success BEFORE it runs (synchronous append), so a crash cannot leave a false fresh */
  invalidate(taskId: string): void;
  /** append a success (synchronous append) */
  record(rec: SuccessRecord): void;
  /** compact if worthwhile, then release the file */
  close(): Promise<void>;
  /** compact if worthwhile, and stay open (a resident process's log, between builds) */
  compact(): Promise<void>;
}
