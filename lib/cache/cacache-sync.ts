/**
 * Synchronous writes into a cacache folder, in cacache's own on-disk format (content-v2 and
 * index-v5 of cacache 20), for the small blobs and entries a build stores after each task.
 *
 * Why not cacache.put: one put is about thirty promise-based file operations (a temporary
 * folder, the write, a move, the index bucket's folder and append, each a thread-pool round
 * trip with its wake-ups). A cold build stores two per task, and on a 2-core machine those round
 * trips were half of its time. Here a put is ~6 system calls on the calling thread. Everything
 * else (reads, verify, ls, rm) stays with cacache, so the format below must match its own to the
 * byte; test/cache-store.test.ts reads what this writes back through cacache.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { integrityOf } from '../hash/digest.js';

/** cacache 20's folder versions (its package.json "cache-version") */
const CONTENT_DIR = 'content-v2';
const INDEX_DIR = 'index-v5';

/** cacache's hashToSegments: a hex digest as three path parts, 2/2/rest */
function segments(hex: string): [string, string, string] {
  return [hex.slice(0, 2), hex.slice(2, 4), hex.slice(4)];
}

/** where cacache keeps the content whose sha256 is `hexSha256` */
export function contentPathSync(cache: string, hexSha256: string): string {
  return path.join(cache, CONTENT_DIR, 'sha256', ...segments(hexSha256));
}

/** whether the content is present (its bytes are not checked: reads verify them) */
export function hasContentSync(cache: string, hexSha256: string): boolean {
  return existsSync(contentPathSync(cache, hexSha256));
}

/** cacache's index bucket of `key`: one file per key (named by its sha256), lines appended */
export function bucketPathSync(cache: string, key: string): string {
  return path.join(cache, INDEX_DIR, ...segments(createHash('sha256').update(key).digest('hex')));
}

/**
 * Stores `data` as content. The caller has checked that it hashes to `hexSha256`. Content
 * already present is replaced by the same bytes through an atomic rename, which also mends a
 * copy that rotted in place.
 */
export function writeContentSync(cache: string, hexSha256: string, data: Uint8Array): void {
  const tmpDir = path.join(cache, 'tmp');
  const tmp = path.join(tmpDir, randomUUID());
  const dest = contentPathSync(cache, hexSha256);
  inFolder(tmpDir, () => writeFileSync(tmp, data, { flag: 'wx' }));
  try {
    inFolder(path.dirname(dest), () => renameSync(tmp, dest));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Appends an index entry for `key`, exactly as cacache's index.insert writes it: a line of the
 * entry's sha1, a tab and the entry as JSON, in the bucket named by the key's sha256. The last
 * line for a key wins when cacache reads the bucket, and a line whose sha1 does not match is
 * skipped, so `metadata` is as well protected as content.
 */
export function insertIndexSync(cache: string, key: string, hexSha256: string, size: number, time: number, metadata?: string): void {
  const bucket = bucketPathSync(cache, key);
  const stringified = JSON.stringify({ key, integrity: integrityOf(hexSha256), time, size, metadata });
  const line = `\n${createHash('sha1').update(stringified).digest('hex')}\t${stringified}`;
  inFolder(path.dirname(bucket), () => appendFileSync(bucket, line));
}

/**
 * Runs `write`, creating `folder` and trying once more if it failed for want of it: the folder
 * usually exists, and asking first would cost a system call on every write.
 */
function inFolder(folder: string, write: () => void): void {
  try {
    write();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(folder, { recursive: true });
    write();
  }
}

