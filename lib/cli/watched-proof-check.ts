/**
 * The no-op proof's check in `uet serve`, told by the change journal (lib/watch/change-journal.ts)
 * which of the proof's paths may have changed: it stats those only, instead of every path.
 *
 * A proof is checked this way against a basis: the proof's bytes and a sync `e` such that each
 * path's stat at sync `e` was the one signed, or the path was named by an event since `e`. A
 * basis is made when
 * - a check (of any kind) at sync `e` found nothing changed: every signature held then;
 * - a served build wrote the proof after its check at sync `e`: what it signed anew it stat'ed
 *   after `e`, and what it kept of the last proof its check at `e` found unchanged.
 * A later check at sync `s` with the same proof bytes then stats the paths named by an event
 * since `e` and every path in a folder the journal cannot vouch for since `e`; any other path
 * has not changed since `e`, so still has the stat signed. The answer is the same as a full
 * check's, in the same order (test/watched-proof-check.test.ts). Anything else (no basis,
 * other bytes, a failed sync, events lost) is a full check.
 */
import type { ChangedPath, NoopProof, ProofContext } from '../build/noop-proof.js';
import { SIG_FIELDS, changedStatsOf, isFolderMode, parseProof, withChangedDigests } from '../build/noop-proof.js';
import type { ChangeJournal } from '../watch/change-journal.js';
import type { ProofCheck } from './noop-fast-path.js';

/** proofs (target sets) kept a basis for: one per target set a shell asked for lately */
const MAX_BASES = 8;
/** folder key of paths outside the root: never watched, never trusted */
const OUTSIDE = '..';

interface Basis {
  readonly bytes: Buffer;
  readonly epoch: number;
  /** the proof's path indices by the folder whose watch vouches for them */
  readonly byFolder: ReadonlyMap<string, readonly number[]>;
  readonly indexOf: ReadonlyMap<string, number>;
}

export class WatchedProofCheck implements ProofCheck {
  /** by target set (the proof's file) */
  private readonly bases = new Map<string, Basis>();
  /** the sync of the check now being answered (a build writing a proof follows its check) */
  private epoch: number | undefined;

  constructor(
    private readonly journal: ChangeJournal,
    private readonly whole: ProofCheck,
  ) {}

  /** Watches the folders of a proof already on disk, so that its first check can make a basis. */
  watchFoldersOf(proof: NoopProof): void {
    this.journal.track(foldersOf(proof).keys());
  }

  async changedPaths(bytes: Buffer, proof: NoopProof, ctx: ProofContext, limit: number): Promise<ChangedPath[]> {
    const epoch = await this.journal.sync();
    this.epoch = epoch;
    const key = targetsKey(proof);
    const basis = this.bases.get(key);
    const same = basis !== undefined && basis.bytes.equals(bytes);
    const candidates = epoch !== undefined && same ? this.candidates(basis) : undefined;
    const changed =
      candidates !== undefined
        ? withChangedDigests(proof, ctx, changedStatsOf(proof, ctx.stat, candidates, limit), limit)
        : await this.whole.changedPaths(bytes, proof, ctx, limit);
    if (epoch !== undefined && changed.length === 0) {
      const verified = same ? { ...basis, epoch } : basisOf(bytes, proof, epoch);
      // a proof first seen here: its folders are watched from now on (trusted after the next sync)
      if (!same) this.journal.track(verified.byFolder.keys());
      this.remember(key, verified);
    }
    return changed;
  }

  /** The proof the check just answered was signed anew: it stands on the same basis. */
  proofSettled(bytes: Buffer): void {
    this.proofWritten(bytes);
  }

  /** A served build wrote this proof after the check it followed. */
  proofWritten(bytes: Buffer): void {
    const proof = parseProof(bytes);
    if (proof === undefined || this.epoch === undefined) return;
    const basis = basisOf(bytes, proof, this.epoch);
    this.journal.track(basis.byFolder.keys());
    this.remember(targetsKey(proof), basis);
  }

  close(): void {
    this.journal.close();
  }

  /** the indices to stat, ascending; undefined: all of them */
  private candidates(basis: Basis): number[] | undefined {
    const since = basis.epoch;
    if (this.journal.lostSince(since)) return undefined;
    const picked = new Set<number>();
    for (const [folder, indices] of basis.byFolder) {
      if (this.journal.trusted(folder, since)) continue;
      for (const i of indices) picked.add(i);
    }
    for (const rel of this.journal.changedSince(since)) {
      const i = basis.indexOf.get(rel);
      if (i !== undefined) picked.add(i);
    }
    return [...picked].sort((a, b) => a - b);
  }

  private remember(key: string, basis: Basis): void {
    this.bases.delete(key);
    this.bases.set(key, basis);
    if (this.bases.size > MAX_BASES) this.bases.delete(this.bases.keys().next().value!);
    let oldest = Infinity;
    for (const b of this.bases.values()) oldest = Math.min(oldest, b.epoch);
    this.journal.forgetBefore(oldest);
  }
}

function targetsKey(proof: NoopProof): string {
  return JSON.stringify(proof.targets);
}

function basisOf(bytes: Buffer, proof: NoopProof, epoch: number): Basis {
  const indexOf = new Map<string, number>();
  proof.signed.paths.forEach((rel, i) => indexOf.set(rel, i));
  return { bytes, epoch, byFolder: foldersOf(proof), indexOf };
}

/**
 * Each path's index under the folder whose watch sees it change (its parent); a folder's
 * listing is also seen by its own watch, so a folder is under both.
 */
function foldersOf(proof: NoopProof): Map<string, number[]> {
  const byFolder = new Map<string, number[]>();
  const add = (folder: string, i: number): void => {
    const list = byFolder.get(folder);
    if (list) list.push(i);
    else byFolder.set(folder, [i]);
  };
  const { paths, sigs } = proof.signed;
  for (let i = 0; i < paths.length; i++) {
    const rel = paths[i]!;
    if (rel.startsWith('..') || rel.startsWith('/')) {
      add(OUTSIDE, i);
      continue;
    }
    if (rel === '' || isFolderMode(sigs[i * SIG_FIELDS + 4] ?? 0)) add(rel, i);
    if (rel === '') continue;
    const slash = rel.lastIndexOf('/');
    add(slash < 0 ? '' : rel.slice(0, slash), i);
  }
  return byFolder;
}
