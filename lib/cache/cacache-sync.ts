/**
 * Synchronous reads and writes of a cacache folder, in cacache's own on-disk format (content-v2
 * and index-v5 of cacache 20), for the small blobs a build stores and restores. (Entries have
 * logs of their own: entry-log.ts.)
 *
 * Why not cacache.put: one put is about thirty promise-based file operations (a temporary
 * folder, the write, a move, the index bucket's folder and append, each a thread-pool round
 * trip with its wake-ups). A cold build stores two per task, and on a 2-core machine those round
 * trips were half of its time. Here a put is ~6 system calls on the calling thread, and a read
 * of a small blob one or two. Larger blobs, verify, listing, pruning and removal stay
 * with cacache, so the format below must match its own to the byte: test/cache-store.test.ts
 * reads what this writes through cacache, and what cacache writes through this.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { integrityOf, sha1, sha256 } from '../hash/digest.js';
import { errnoCode } from '../util/errno.js';
import { importModule } from '../util/import-module.js';

/** cacache itself (~40 ms of modules), loaded on first need: most builds never need it. */
let cacacheModule: Promise<typeof import('cacache')> | undefined;
export function loadCacache(): Promise<typeof import('cacache')> {
  // a CommonJS package: as an ES module, its module.exports is the default export
  cacacheModule ??= importModule<{ default: typeof import('cacache') }>('cacache').then((m) => m.default);
  return cacacheModule;
}

/** cacache 20's folder versions (its package.json "cache-version") */
const CONTENT_DIR = 'content-v2';
const INDEX_DIR = 'index-v5';

/** whether the cache holds no entry and no content at all (cacache has made neither folder) */
export function isEmptyCacheSync(cache: string): boolean {
  return !existsSync(path.join(cache, INDEX_DIR)) && !existsSync(path.join(cache, CONTENT_DIR));
}

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
  return path.join(cache, INDEX_DIR, ...segments(sha256(key)));
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
 * skipped.
 */
export function insertIndexSync(cache: string, key: string, hexSha256: string, size: number, time: number): void {
  const bucket = bucketPathSync(cache, key);
  const stringified = JSON.stringify({ key, integrity: integrityOf(hexSha256), time, size });
  const line = `\n${sha1(stringified)}\t${stringified}`;
  inFolder(path.dirname(bucket), () => appendFileSync(bucket, line));
}

/** An index line as cacache reads it back. */
export interface IndexLine {
  readonly key: string;
  readonly integrity: string;
  readonly time: number;
  readonly size?: number;
}

/**
 * The line for `key`, as cacache's index.find reads it: the last line of its bucket naming the
 * key, skipping lines whose sha1 does not match; undefined when there is none or the last one is
 * a removal (null integrity).
 */
export function readIndexSync(cache: string, key: string): IndexLine | undefined {
  const bucket = bucketPathSync(cache, key);
  // the miss of every task of a cold build: asked first, as a failed read would throw (an
  // exception costs ~9 µs, the question ~1)
  if (!existsSync(bucket)) return undefined;
  let text: string;
  try {
    text = readFileSync(bucket, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  let found: IndexLine | undefined;
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const json = line.slice(tab + 1);
    if (sha1(json) !== line.slice(0, tab)) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(json);
    } catch {
      continue;
    }
    if (typeof entry !== 'object' || entry === null || (entry as { key?: unknown }).key !== key) continue;
    const integrity = (entry as { integrity?: unknown }).integrity;
    found = typeof integrity === 'string' && integrity !== '' ? (entry as IndexLine) : undefined;
  }
  return found;
}

/**
 * The content whose sha256 is `hexSha256`, its bytes checked: an error with code ENOENT when
 * absent, EBADSIZE or EINTEGRITY (cacache's codes) when the file no longer holds those bytes.
 */
export function readContentSync(cache: string, hexSha256: string, size?: number): Buffer {
  return checkContent(readFileSync(contentPathSync(cache, hexSha256)), hexSha256, size);
}

/** `data`, when it is the content whose sha256 is `hexSha256` (and of `size` bytes); else cacache's EBADSIZE or EINTEGRITY */
export function checkContent(data: Buffer, hexSha256: string, size?: number): Buffer {
  if (size !== undefined && data.length !== size) throw Object.assign(new Error(`bad size: expected ${size} bytes, found ${data.length}`), { code: 'EBADSIZE' });
  if (sha256(data) !== hexSha256) throw Object.assign(new Error(`integrity check failed for ${hexSha256}`), { code: 'EINTEGRITY' });
  return data;
}


/** folders this process wrote into: they exist (unless removed since: see inFolder) */
const knownFolders = new Set<string>();

/**
 * Runs `write` in `folder`, which is created first unless this process wrote there before. Most
 * buckets a build writes are new (each key has its own, spread over 65,536 folders), and a write
 * that fails for want of its folder throws: an exception costs ~9 µs, a recursive mkdir of a
 * folder that exists one or two system calls and none. A known folder removed since (a cache
 * cleared meanwhile) is made again.
 */
function inFolder(folder: string, write: () => void): void {
  if (!knownFolders.has(folder)) {
    mkdirSync(folder, { recursive: true });
    write();
    knownFolders.add(folder);
    return;
  }
  try {
    write();
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
    mkdirSync(folder, { recursive: true });
    write();
  }
}

