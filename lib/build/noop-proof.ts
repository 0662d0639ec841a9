/**
 * The no-op proof: what a successful build consulted, so that the next
 * identical build can say "nothing to do" by stat'ing those files and folders again, without
 * loading the graph, the freshness log or any task.
 *
 * It holds, for one list of targets:
 * - the stat signature of every file the build hashed or probed (inputs, recorded outputs,
 *   spec files) and of every folder it listed (glob bases, spec folders), or '-' for a path
 *   that did not exist;
 * - the signature of the freshness log (a task run by any build appends to it);
 * - a digest of the environment variables that feed task keys;
 * - what a build finding it all fresh prints: its summary, and the spec warnings before it.
 *
 * Written at the end of every successful build, it stands for the build after it: if nothing it
 * lists changed, every task would be fresh. A stat vouches for a file only when the file's
 * timestamps are older than the proof by RACY_MS (git's racily-clean rule: a rewrite in the
 * same coarse tick could otherwise keep the stat); a file changed more recently also carries
 * the sha256 of its content, which the check re-reads. The writer refuses (no proof) when
 * anything the build consulted changed after the build read it. The proof is used only when
 * every signature, digest, the log's state and the environment are unchanged; anything else
 * falls back to the full build, which decides task by task and writes a new proof. So the
 * proof is a shortcut to the same answer, never a different one.
 *
 * This module is the format and the check, over an injected stat: the CLI's fast path and the
 * build command share it, and it imports nothing heavy (the fast path's start-up is its cost).
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TaskStatus } from '../events/types.js';
import type { StatLike } from '../hash/types.js';

export const PROOF_VERSION = 1;
/** see the header: a file changed less than this before the proof was written needs its digest */
export const RACY_MS = 2000;

/**
 * The id scripts/bundle.mjs gives each bundle it writes (esbuild's `define`); tsc's output
 * (dist/lib, which the tests import) has none.
 */
declare const UET_BUNDLE_ID: string | undefined;

/**
 * Which uet wrote a proof, so that a proof written by another uet (whose keys may be computed
 * differently) is never trusted: the bundle's id, else the signature of this very file, which
 * every compile and every install of uet rewrites. Not the file's signature in a bundle: the
 * fast path is bundled apart from the build (one file loads faster than the chunks it would
 * share with it), so each holds a copy of this code.
 */
export function uetBuildId(): string {
  if (typeof UET_BUNDLE_ID === 'string') return UET_BUNDLE_ID;
  try {
    return signature(statSync(fileURLToPath(import.meta.url)));
  } catch {
    return '?';
  }
}

/** A StatFn over paths relative to `root`, given a stat of real paths. */
export function statUnder<T>(root: string, cwd: string, stat: (p: string) => T): (rel: string) => T {
  // relative to the working folder when it is the root: the kernel walks fewer path components
  if (root === cwd) return (rel) => stat(rel === '' ? '.' : rel);
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return (rel) => stat(rel === '' ? root : prefix + rel);
}

export type { StatLike };

/** A root-relative path's stat ('' is the root); undefined: it does not exist (or cannot be stat'ed). */
export type StatFn = (relPath: string) => StatLike | undefined;

export const ABSENT = '-';

export function signature(st: StatLike | undefined): string {
  return st === undefined ? ABSENT : `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.mode}`;
}

/** per path: size, mtimeMs, ctimeMs, ino, mode; size -1 for a path that did not exist */
export const SIG_FIELDS = 5;

/**
 * The consulted paths (root-relative) and their stat signatures, SIG_FIELDS numbers each; and,
 * for a path changed so recently that its stat could stay the same through a rewrite, a digest
 * the check computes again: a file's sha256, a folder's listingDigest.
 */
export interface SignedPaths {
  readonly paths: readonly string[];
  readonly sigs: Float64Array;
  readonly digests: ReadonlyMap<number, string>;
  /**
   * for a folder: the listingDigest of its entries when signed, each name marked as a folder or
   * a link (lib/util/marked-listing.ts). Compared only when the folder's
   * stat changed: a file saved by a rename (safe-write editors, vim, `sed -i`) or a swap file
   * come and gone changes the folder's stat and not its names, and then nothing that listed it
   * need be decided again (see ProofHint.relisted).
   */
  readonly listings: ReadonlyMap<number, string>;
  /**
   * `paths` as a proof file holds them (joined by newlines), when read from one: a proof signed
   * over it with the same paths reuses the bytes (a touch re-signs a few of 20,000 paths, and
   * joining and encoding them all took ~3 ms).
   */
  readonly text?: Buffer;
}

/**
 * One consulted path for a new proof: its stat now, and its content digest when that stat is
 * racy. `stale`: the path changed after the build read it; its signature matches no stat (nor
 * an absent path), so the next check always finds it changed and decides what reads it again.
 */
export interface SignedEntry {
  readonly stat: StatLike | undefined;
  readonly digest?: string;
  /** a folder's listingDigest (SignedPaths.listings) */
  readonly listing?: string;
  readonly stale?: true;
}

/** the signature of a stale entry: no size a stat gives, nor ABSENT's -1 */
const STALE_SIG = -2;

/** Where `rel` is among a proof's paths (they are sorted), or -1. */
export function indexOfPath(signed: SignedPaths, rel: string): number {
  const i = lowerBound(signed.paths, rel, 0);
  return signed.paths[i] === rel ? i : -1;
}

/**
 * A proof's entries: `entries`, over what stands of `base` (a build that decided only some
 * tasks keeps the last proof's other entries, less the `dropped` paths). Paths are kept sorted;
 * the base's are already, so this build's entries (a few, behind a touch) and the dropped paths
 * are found in it by bisection, and the runs of base entries between them copied whole: at
 * 20,000 base paths that is ~1 ms, where comparing and copying each path was ~8.
 */
export function signEntries(entries: ReadonlyMap<string, SignedEntry>, base?: { readonly signed: SignedPaths; readonly dropped: ReadonlySet<string> }): SignedPaths {
  const own = [...entries.keys()].sort();
  const from: SignedPaths = base?.signed ?? { paths: [], sigs: new Float64Array(0), digests: new Map<number, string>(), listings: new Map<number, string>() };
  // where the base's runs end: this build's paths, and the dropped ones the base holds
  const cuts = [...own.map((path) => ({ path, own: true })), ...[...(base?.dropped ?? [])].map((path) => ({ path, own: false }))].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  const sigs = new Float64Array((own.length + from.paths.length) * SIG_FIELDS);
  const paths: string[] = [];
  const digests = new Map<number, string>();
  const listings = new Map<number, string>();
  const baseDigests = indexedCopier(from.digests, digests);
  const baseListings = indexedCopier(from.listings, listings);
  let k = 0;
  /** whether the paths differ from the base's: one of this build's is new, or one of the base's is dropped */
  let reshaped = false;
  /** the base's entries [k, end) */
  const copyBase = (end: number): void => {
    if (end <= k) return;
    const at = paths.length;
    for (let i = k; i < end; i++) paths.push(from.paths[i]!);
    sigs.set(from.sigs.subarray(k * SIG_FIELDS, end * SIG_FIELDS), at * SIG_FIELDS);
    baseDigests(k, end, at);
    baseListings(k, end, at);
    k = end;
  };
  for (const cut of cuts) {
    copyBase(lowerBound(from.paths, cut.path, k));
    // the base's entry for this path, if any, is superseded or dropped
    if (from.paths[k] === cut.path) {
      k++;
      if (!cut.own) reshaped = true;
    } else if (cut.own) reshaped = true;
    if (!cut.own) continue;
    const e = entries.get(cut.path)!;
    const j = paths.length * SIG_FIELDS;
    if (e.digest !== undefined) digests.set(paths.length, e.digest);
    if (e.listing !== undefined) listings.set(paths.length, e.listing);
    paths.push(cut.path);
    const st = e.stat;
    if (st === undefined || e.stale) {
      sigs.fill(e.stale ? STALE_SIG : -1, j, j + SIG_FIELDS);
      continue;
    }
    sigs[j] = st.size;
    sigs[j + 1] = st.mtimeMs;
    sigs[j + 2] = st.ctimeMs;
    sigs[j + 3] = st.ino;
    sigs[j + 4] = st.mode;
  }
  copyBase(from.paths.length);
  const text = !reshaped && base?.signed.text;
  return { paths, sigs: sigs.subarray(0, paths.length * SIG_FIELDS), digests, listings, ...(text ? { text } : {}) };
}

/**
 * Copies a base's per-index values (digests, listings) into `into` as runs of base entries are
 * copied: each call moves the values of base entries [from, end) to start at `at`. Runs come in
 * ascending order, so the base's values are walked once.
 */
function indexedCopier(base: ReadonlyMap<number, string>, into: Map<number, string>): (from: number, end: number, at: number) => void {
  const sorted = [...base].sort((x, y) => x[0] - y[0]);
  let next = 0;
  return (from, end, at) => {
    while (next < sorted.length && sorted[next]![0] < end) {
      const [index, value] = sorted[next++]!;
      if (index >= from) into.set(at + index - from, value);
    }
  };
}

/** the first index from `lo` whose path is not before `path` (paths sorted) */
function lowerBound(sorted: readonly string[], path: string, lo: number): number {
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < path) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface NoopProof {
  /** the uet build that wrote it (version and its own file's signature): a new uet re-decides */
  readonly uet: string;
  readonly root: string;
  readonly targets: readonly string[];
  /** names of the variables whose values feed keys, and a digest of their values */
  readonly envNames: readonly string[];
  readonly envDigest: string;
  /** signature of .uet/fresh.log */
  readonly state: string;
  readonly label: string;
  readonly tasks: number;
  readonly counts: Record<TaskStatus, number>;
  /** lines printed on stderr before the summary (spec warnings) */
  readonly warnings: readonly string[];
  /**
   * specFilesDigest of the compiled graph the build ran on: its spec files and their contents
   * (lib/graph/graph-cache.ts, LoadedGraph.files). A hinted build whose cached graph has this
   * digest, and none of whose spec files changed since, need not hash them again to trust it.
   */
  readonly specDigest: string;
  readonly signed: SignedPaths;
}

/** sha256 of a string, hex (injected: loading node:crypto is a measurable part of the fast path) */
export type Sha256 = (text: string) => string;

/** The values of the named variables, hashed (never stored); '' when no variable feeds a key. */
export function envDigest(names: readonly string[], env: Readonly<Record<string, string | undefined>>, sha256: Sha256): string {
  if (names.length === 0) return '';
  return sha256(names.map((n) => (env[n] === undefined ? `${n}\u0001` : `${n}=${env[n]}\u0000`)).join(''));
}

/** A compiled graph's spec files with their content hashes (LoadedGraph.files) as a digest. */
export function specFilesDigest(files: ReadonlyArray<readonly [string, string]>, sha256: Sha256): string {
  return sha256(files.map(([file, hash]) => `${file}\u0000${hash}`).join('\n'));
}

/** A folder's listing as a digest: its entry names, sorted. */
export function listingDigest(names: readonly string[], sha256: Sha256): string {
  return sha256([...names].sort().join('\n'));
}

/**
 * The proof's file name for a list of targets, under .uet/noop/: FNV-1a of the targets. A
 * collision only costs a slower build: the proof's header holds the targets and is compared.
 */
export function proofFileName(targets: readonly string[]): string {
  const text = JSON.stringify(targets);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-${text.length}.proof`;
}

const MAGIC = `uet-noop-proof ${PROOF_VERSION}\n`;

/**
 * Layout: the magic line; a JSON header line (with the byte length of the path block); the
 * paths, one per line; zero padding to a multiple of 8; then the signatures as native float64s,
 * so that reading 20,000 of them is one typed-array view rather than 100,000 number parses
 * (the check's whole cost is meant to be its stat calls). A path holding a newline makes the
 * proof unwritable rather than ambiguous.
 */
export function formatProof(p: NoopProof): Buffer | undefined {
  // text read from a proof holds no path with a newline: it was split at them
  if (p.signed.text === undefined && p.signed.paths.some((rel) => rel.includes('\n'))) return undefined;
  const pathBlock = p.signed.text ?? Buffer.from(p.signed.paths.join('\n'), 'utf8');
  const header = {
    uet: p.uet,
    root: p.root,
    targets: p.targets,
    envNames: p.envNames,
    envDigest: p.envDigest,
    state: p.state,
    label: p.label,
    tasks: p.tasks,
    counts: p.counts,
    warnings: p.warnings,
    specDigest: p.specDigest,
    count: p.signed.paths.length,
    pathBytes: pathBlock.length,
    digests: [...p.signed.digests],
    listings: [...p.signed.listings],
  };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8');
  const textLength = head.length + pathBlock.length;
  const pad = (8 - (textLength % 8)) % 8;
  const sigBytes = Buffer.from(p.signed.sigs.buffer, p.signed.sigs.byteOffset, p.signed.sigs.byteLength);
  return Buffer.concat([head, pathBlock, Buffer.alloc(pad), sigBytes]);
}

export function parseProof(buf: Buffer): NoopProof | undefined {
  const magicLength = Buffer.byteLength(MAGIC);
  if (buf.length < magicLength || buf.toString('latin1', 0, magicLength) !== MAGIC) return undefined;
  const headerEnd = buf.indexOf(10, magicLength);
  if (headerEnd < 0) return undefined;
  let h: unknown;
  try {
    h = JSON.parse(buf.toString('utf8', magicLength, headerEnd));
  } catch {
    return undefined;
  }
  if (!isHeader(h)) return undefined;
  const { count, pathBytes, digests, listings, ...rest } = h;
  const pathStart = headerEnd + 1;
  const textEnd = pathStart + pathBytes;
  const sigStart = textEnd + ((8 - (textEnd % 8)) % 8);
  if (buf.length !== sigStart + count * SIG_FIELDS * 8) return undefined;
  const paths = count === 0 ? [] : buf.toString('utf8', pathStart, textEnd).split('\n');
  if (paths.length !== count) return undefined;
  // a view when the bytes are aligned (readFileSync gives a fresh, aligned buffer), else a copy
  const at = buf.byteOffset + sigStart;
  const sigs =
    at % 8 === 0
      ? new Float64Array(buf.buffer, at, count * SIG_FIELDS)
      : new Float64Array(buf.buffer.slice(at, at + count * SIG_FIELDS * 8));
  return { ...rest, signed: { paths, sigs, digests: new Map(digests), listings: new Map(listings), text: buf.subarray(pathStart, textEnd) } };
}

type Header = Omit<NoopProof, 'signed'> & { readonly count: number; readonly pathBytes: number; readonly digests: ReadonlyArray<[number, string]>; readonly listings: ReadonlyArray<[number, string]> };

function isHeader(h: unknown): h is Header {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  return (
    typeof o['uet'] === 'string' &&
    typeof o['root'] === 'string' &&
    strings(o['targets']) &&
    strings(o['envNames']) &&
    typeof o['envDigest'] === 'string' &&
    typeof o['state'] === 'string' &&
    typeof o['label'] === 'string' &&
    typeof o['tasks'] === 'number' &&
    typeof o['counts'] === 'object' &&
    o['counts'] !== null &&
    strings(o['warnings']) &&
    typeof o['specDigest'] === 'string' &&
    count(o['count']) &&
    count(o['pathBytes']) &&
    indexedStrings(o['digests']) &&
    indexedStrings(o['listings'])
  );
}

/** [index, string] pairs */
function indexedStrings(v: unknown): boolean {
  return Array.isArray(v) && v.every((d) => Array.isArray(d) && d.length === 2 && typeof d[0] === 'number' && Number.isInteger(d[0]) && d[0] >= 0 && typeof d[1] === 'string');
}

/**
 * What the fast path learned when a proof failed only on some files: the full build may then
 * decide only the tasks those files reach, the rest being fresh as the proof says.
 */
export interface ProofHint {
  readonly proof: NoopProof;
  /** root-relative paths whose stat or content changed (files and folders) */
  readonly changed: readonly string[];
  /**
   * those of them that are, or were, folders: a folder's listing may have changed (a file
   * added, removed or renamed in it; an editor's save that replaces the file), so whatever
   * may have listed it is decided again
   */
  readonly folders: readonly string[];
  /**
   * folders whose stat changed and whose names did not (SignedPaths.listings): in no `changed`
   * list, as nothing that listed them need be decided again; the next proof signs their new
   * stat
   */
  readonly relisted: readonly string[];
}

/** Why a proof does not hold, as data. */
export type ProofMismatch =
  | { readonly kind: 'uet' }
  | { readonly kind: 'root' }
  | { readonly kind: 'targets' }
  | { readonly kind: 'env' }
  | { readonly kind: 'state' }
  | { readonly kind: 'path'; readonly path: string };

export interface ProofContext {
  readonly uet: string;
  readonly root: string;
  readonly targets: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** signature of .uet/fresh.log now */
  readonly state: string;
  readonly stat: StatFn;
  readonly sha256: Sha256;
  /**
   * The digest of a racy entry now: a file's content (sha256), or a folder's listing
   * (listingDigest); undefined if it cannot be read
   */
  readonly digestOf: (rel: string, folder: boolean) => string | undefined;
}

/** undefined when the proof holds: every path, the log and the environment as recorded. */
export function checkProof(p: NoopProof, ctx: ProofContext): ProofMismatch | undefined {
  const header = headerMismatch(p, ctx);
  if (header) return header;
  const first = changedPaths(p, ctx, 1)[0];
  return first === undefined ? undefined : { kind: 'path', path: first.path };
}

/** A path whose stat or content differs from the proof's; `folder` when it is or was a folder. */
export interface ChangedPath {
  readonly path: string;
  readonly folder: boolean;
}

/** Everything but the paths: the uet, the root, the targets, the freshness log, the environment. */
export function headerMismatch(p: NoopProof, ctx: ProofContext): ProofMismatch | undefined {
  if (p.uet !== ctx.uet) return { kind: 'uet' };
  if (p.root !== ctx.root) return { kind: 'root' };
  if (p.targets.length !== ctx.targets.length || p.targets.some((t, i) => t !== ctx.targets[i])) return { kind: 'targets' };
  if (p.state !== ctx.state) return { kind: 'state' };
  if (envDigest(p.envNames, ctx.env, ctx.sha256) !== p.envDigest) return { kind: 'env' };
  return undefined;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** The paths that changed since the proof, up to `limit` of them (stat'ing stops there). */
export function changedPaths(p: NoopProof, ctx: ProofContext, limit = Infinity): ChangedPath[] {
  return withChangedDigests(p, ctx, changedStats(p, ctx.stat, 0, p.signed.paths.length, limit), limit);
}

/**
 * The paths among the proof's [from, to) whose stat differs from the one recorded, up to `limit`
 * of them: the stat half of changedPaths, which a caller may split among threads.
 */
export function changedStats(p: NoopProof, stat: StatFn, from: number, to: number, limit = Infinity): ChangedPath[] {
  const out: ChangedPath[] = [];
  const end = Math.min(to, p.signed.paths.length);
  for (let i = from; i < end && out.length < limit; i++) {
    const c = changedStatAt(p.signed, stat, i);
    if (c) out.push(c);
  }
  return out;
}

/** changedStats over some of the proof's paths only: `indices`, ascending */
export function changedStatsOf(p: NoopProof, stat: StatFn, indices: Iterable<number>, limit = Infinity): ChangedPath[] {
  const out: ChangedPath[] = [];
  for (const i of indices) {
    if (out.length >= limit) break;
    const c = changedStatAt(p.signed, stat, i);
    if (c) out.push(c);
  }
  return out;
}

/** the path at `i`, if its stat now differs from the one signed */
function changedStatAt({ paths, sigs }: SignedPaths, stat: StatFn, i: number): ChangedPath | undefined {
  const j = i * SIG_FIELDS;
  const rel = paths[i]!;
  const st = stat(rel);
  const same =
    st === undefined
      ? sigs[j] === -1
      : st.size === sigs[j] && st.mtimeMs === sigs[j + 1] && st.ctimeMs === sigs[j + 2] && st.ino === sigs[j + 3] && st.mode === sigs[j + 4];
  return same ? undefined : { path: rel, folder: (st !== undefined && isFolderMode(st.mode)) || (sigs[j] !== -1 && isFolderMode(sigs[j + 4] ?? 0)) };
}

export function isFolderMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

/**
 * The proof as a check that found nothing changed, begun at `checkedAt`, may sign it anew: the
 * racy entries whose timestamps are now older than RACY_MS before `checkedAt` lose their
 * digests, by the writer's own rule (their stat matched and their content was re-read as
 * signed, after `checkedAt`). Undefined when none does. Without this, every check of a proof
 * written just after a build re-reads the files that build wrote last (~1,300 of them after a
 * cold build of 10,000 tasks: ~18 ms of every no-op), until some build writes a new proof.
 */
export function settledProof(p: NoopProof, checkedAt: number): NoopProof | undefined {
  const { sigs, digests } = p.signed;
  const stableBefore = checkedAt - RACY_MS;
  const kept = new Map<number, string>();
  for (const [i, digest] of digests) {
    const j = i * SIG_FIELDS;
    if (!(Math.max(sigs[j + 1] ?? Infinity, sigs[j + 2] ?? Infinity) < stableBefore)) kept.set(i, digest);
  }
  return kept.size === digests.size ? undefined : { ...p, signed: { ...p.signed, digests: kept } };
}

/**
 * Whether a folder whose stat changed still has the names it had when signed
 * (SignedPaths.listings): then nothing that listed it need be decided again.
 */
export function listingUnchanged(signed: SignedPaths, rel: string, listingOf: (rel: string) => string | undefined): boolean {
  const i = indexOfPath(signed, rel);
  const listing = i < 0 ? undefined : signed.listings.get(i);
  return listing !== undefined && listingOf(rel) === listing;
}

/** `changed` (changedStats over all the paths), with the racy entries whose content changed added, up to `limit` in all. */
export function withChangedDigests(p: NoopProof, ctx: ProofContext, changed: readonly ChangedPath[], limit = Infinity): ChangedPath[] {
  const out = changed.slice(0, limit);
  const { paths, sigs } = p.signed;
  for (const [i, digest] of p.signed.digests) {
    if (out.length >= limit) break;
    const rel = paths[i];
    if (rel === undefined) return [{ path: '?', folder: true }];
    const folder = isFolderMode(sigs[i * SIG_FIELDS + 4] ?? 0);
    if (!out.some((c) => c.path === rel) && ctx.digestOf(rel, folder) !== digest) out.push({ path: rel, folder });
  }
  return out;
}
