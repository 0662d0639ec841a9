/**
 * The local cache's size without listing it. Pruning must read every entry (`uet cache prune` of 2,000:
 * 0.25 s, the command whole), so a build does not prune after every store: `usage.json` beside the cacache
 * folders holds what the last full prune counted, plus the bytes of every blob stored since.
 * Blobs shared between entries are stored once, so the sum never undercounts; the limit holds.
 *
 * A prune is due when that estimate passes max_size, when a quarter of max_age has passed since
 * the last one (so no entry outlives max_age by more than a quarter of it), when there is no
 * estimate, and at least daily (another project sharing the folder adds bytes this one does not
 * see).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';

export const USAGE_FILE = 'usage.json';
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CacheUsage {
  /** blob bytes, at most (see above) */
  readonly bytes: number;
  /** ms since epoch of the last full prune */
  readonly prunedAt: number;
}

export function readUsage(dir: string): CacheUsage | undefined {
  try {
    const u = JSON.parse(readFileSync(path.join(dir, USAGE_FILE), 'utf8')) as Partial<CacheUsage>;
    return typeof u.bytes === 'number' && typeof u.prunedAt === 'number' ? { bytes: u.bytes, prunedAt: u.prunedAt } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Best effort: without the file the next build prunes (and counts) again. So no fsync: a file
 * a power cut left empty or torn reads as no estimate, which is that case. (Every build that
 * stored something writes it, and the fsync was ~10 ms of a touch's wall time, all waiting.)
 * On this thread: four thread-pool round trips for a few dozen bytes took 2–5 ms of a touch.
 */
export function writeUsage(dir: string, usage: CacheUsage): void {
  try {
    writeFileAtomicSyncNoFsync(path.join(dir, USAGE_FILE), JSON.stringify(usage));
  } catch {
    // a folder we cannot write to: the next build simply prunes
  }
}

export function pruneDue(usage: CacheUsage | undefined, addedBytes: number, limits: { readonly maxSize: number; readonly maxAge?: number }, now: number): boolean {
  if (usage === undefined) return true;
  if (usage.bytes + addedBytes > limits.maxSize) return true;
  const since = now - usage.prunedAt;
  if (limits.maxAge !== undefined && since >= limits.maxAge / 4) return true;
  return since >= DAY_MS || since < 0;
}
