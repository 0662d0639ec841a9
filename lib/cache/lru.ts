/**
 * Bounding the local cache: when each entry was last used, and least-recently-used pruning.
 *
 * Last use is kept beside the cacache folders in `last-use.log`, one `<ms> <key>` line per
 * use, appended once per build (a build that restores 10,000 entries makes one write). The
 * newest line of a key wins; an entry with no line counts from when it was stored. `prune`
 * rewrites the file with only the surviving keys.
 *
 * Blobs are shared between entries (two tasks with one identical output store it once), so
 * evicting an entry frees only the blobs no surviving entry names. Blobs no entry names at
 * all (left by a crash between storing blobs and their entry) are removed too.
 * Callers hold the project lock: a build storing blobs while this runs could lose them.
 */
import { appendFileSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { integrityOf } from '../hash/digest.js';
import { loadCacache, type IndexLine } from './cacache-sync.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { err, ok, type Result } from '../util/result.js';
import type { CacheEntry, CacheFailure } from './types.js';
import { blobHashes, ENTRY_NAMESPACE } from './types.js';
import { EntryLog } from './entry-log.js';

/** how keyv prefixes the store's entry keys, in the entry logs (and in cacache's index, where older uets kept them) */
const ENTRY_PREFIX = `${ENTRY_NAMESPACE}:`;

export const LAST_USE_FILE = 'last-use.log';
/** the default of `cache.max_size`: 5 GB */
export const DEFAULT_MAX_SIZE = 5 * 1024 ** 3;

export function recordUse(dir: string, keys: readonly string[], at: number): void {
  if (keys.length === 0) return;
  try {
    // On this thread, as the other logs are appended: one small write at the end of a build,
    // not worth a thread-pool round trip.
    appendFileSync(path.join(dir, LAST_USE_FILE), keys.map((k) => `${at} ${k}\n`).join(''));
  } catch {
    // a cache folder we cannot write: entries then age from when they were stored
  }
}

export interface PruneLimits {
  /** bytes */
  readonly maxSize: number;
  /** ms since last use; absent: no age limit */
  readonly maxAge?: number;
  /** entry keys that must stay (what the current build restored or stored) */
  readonly protect?: ReadonlySet<string>;
  readonly now: number;
}

export interface PruneReport {
  readonly entriesRemoved: number;
  readonly blobsRemoved: number;
  readonly bytesRemoved: number;
  readonly entriesKept: number;
  readonly bytesKept: number;
}

interface Listed {
  readonly key: string;
  readonly entry: CacheEntry | undefined;
  readonly lastUse: number;
}

/**
 * `parse` turns an entry's stored text into an entry (undefined: unreadable, removed).
 * It is passed in so this module does not depend on the store's serialisation.
 */
export async function prune(dir: string, limits: PruneLimits, parse: (stored: string) => CacheEntry | undefined): Promise<Result<PruneReport, CacheFailure>> {
  try {
    const cacache = await loadCacache();
    const index = await listIndex(dir);
    if (index === undefined) return ok({ entriesRemoved: 0, blobsRemoved: 0, bytesRemoved: 0, entriesKept: 0, bytesKept: 0 });
    const log = new EntryLog(dir);
    const uses = await readUses(dir);
    const blobs = new Map<string, { size: number; integrity: string; refs: number }>();
    let entriesRemoved = 0;
    for (const info of Object.values(index)) {
      if (info.key.startsWith('blob:')) blobs.set(info.key.slice(5), { size: info.size ?? 0, integrity: info.integrity, refs: 0 });
      else if (info.key.startsWith(ENTRY_PREFIX)) {
        // an entry of the format before the entry logs: never read, so never worth keeping
        await cacache.rm.entry(dir, info.key);
        entriesRemoved++;
      }
    }
    const entries: Listed[] = [];
    for (const record of log.list()) {
      if (!record.key.startsWith(ENTRY_PREFIX)) continue;
      const key = record.key.slice(ENTRY_PREFIX.length);
      const entry = parse(record.value);
      entries.push({ key, entry, lastUse: Math.max(record.time, uses.get(key) ?? 0) });
      for (const h of entry ? blobHashes(entry) : []) {
        const b = blobs.get(h);
        if (b) b.refs++;
      }
    }

    let bytesRemoved = 0;
    let blobsRemoved = 0;
    const removeBlob = async (hash: string): Promise<void> => {
      const b = blobs.get(hash);
      if (!b) return;
      blobs.delete(hash);
      await cacache.rm.entry(dir, `blob:${hash}`);
      await cacache.rm.content(dir, b.integrity).catch(() => undefined);
      bytesRemoved += b.size;
      blobsRemoved++;
    };
    for (const [hash, b] of [...blobs]) if (b.refs === 0) await removeBlob(hash);

    let total = [...blobs.values()].reduce((n, b) => n + b.size, 0) + entries.reduce((n, e) => n + inlineBytes(e.entry), 0);
    const kept = new Map<string, number>();
    const protect = limits.protect ?? new Set<string>();
    // oldest first; unreadable entries go regardless of limits
    entries.sort((a, b) => a.lastUse - b.lastUse);
    for (const e of entries) {
      const tooOld = limits.maxAge !== undefined && limits.now - e.lastUse > limits.maxAge;
      const evict = e.entry === undefined || (!protect.has(e.key) && (tooOld || total > limits.maxSize));
      if (!evict) {
        kept.set(e.key, e.lastUse);
        continue;
      }
      entriesRemoved++;
      const ownBytes = inlineBytes(e.entry);
      total -= ownBytes;
      bytesRemoved += ownBytes;
      for (const h of e.entry ? blobHashes(e.entry) : []) {
        const b = blobs.get(h);
        if (!b) continue;
        b.refs--;
        if (b.refs === 0) {
          total -= b.size;
          await removeBlob(h);
        }
      }
    }
    // the logs rewritten with the kept entries only (and without records uet did not write)
    log.compact((r) => r.key.startsWith(ENTRY_PREFIX) && kept.has(r.key.slice(ENTRY_PREFIX.length)));
    await writeFileAtomic(path.join(dir, LAST_USE_FILE), [...kept].map(([k, t]) => `${t} ${k}\n`).join(''));
    return ok({ entriesRemoved, blobsRemoved, bytesRemoved, entriesKept: kept.size, bytesKept: total });
  } catch (e) {
    return err({ reason: 'io', detail: e instanceof Error ? e.message : String(e) });
  }
}

/** the cacache index, or undefined when there is no cache folder yet */
async function listIndex(dir: string): Promise<Record<string, IndexLine> | undefined> {
  try {
    await fsp.access(dir);
  } catch {
    return undefined;
  }
  return (await (await loadCacache()).ls(dir)) as Record<string, IndexLine>;
}

async function readUses(dir: string): Promise<Map<string, number>> {
  const uses = new Map<string, number>();
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, LAST_USE_FILE), 'utf8');
  } catch {
    return uses;
  }
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    const at = Number(line.slice(0, space));
    // a torn last line (a crash mid-append) or a hand-edited one is just ignored
    if (space <= 0 || !Number.isFinite(at)) continue;
    const key = line.slice(space + 1);
    uses.set(key, Math.max(at, uses.get(key) ?? 0));
  }
  return uses;
}

/** bytes an entry keeps itself (CacheEntry.inline): they go with the entry */
function inlineBytes(entry: CacheEntry | undefined): number {
  let n = 0;
  for (const data of Object.values(entry?.inline ?? {})) n += Buffer.byteLength(data, 'base64');
  return n;
}

/**
 * After `verifyStore` removed corrupt blobs: entries that are unreadable or name a blob that is
 * gone are removed too, so they are misses rather than failed restores. Returns how many.
 */
export async function dropBrokenEntries(dir: string, parse: (stored: string) => CacheEntry | undefined): Promise<Result<number, CacheFailure>> {
  try {
    const cacache = await loadCacache();
    const log = new EntryLog(dir);
    const broken = new Set<string>();
    for (const record of log.list()) {
      const entry = parse(record.value);
      let whole = entry !== undefined;
      for (const h of entry ? blobHashes(entry) : []) {
        if (!whole) break;
        whole = (await cacache.get.hasContent(dir, integrityOf(h))) !== false;
      }
      if (!whole) broken.add(record.key);
    }
    // rewritten even when nothing is broken: damaged and superseded lines go too
    log.compact((r) => !broken.has(r.key));
    return ok(broken.size);
  } catch (e) {
    return err({ reason: 'io', detail: e instanceof Error ? e.message : String(e) });
  }
}
