/** No-op proofs made in tests, over real files, as a build would sign them. */
import type { NoopProof, ProofContext, SignedEntry, StatFn } from '../../lib/build/noop-proof.js';
import { formatProof, parseProof, signEntries } from '../../lib/build/noop-proof.js';

/** A proof of `entries` (for `tasks` fresh tasks, no targets): its bytes and the proof they parse to. */
export function signedProof(root: string, entries: ReadonlyMap<string, SignedEntry>, tasks = 1): { bytes: Buffer; proof: NoopProof } {
  const bytes = formatProof({
    uet: 'u',
    root,
    targets: [],
    envNames: [],
    envDigest: '',
    state: '',
    label: 'all',
    tasks,
    specDigest: '',
    counts: { fresh: tasks, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0 },
    warnings: [],
    signed: signEntries(entries),
  })!;
  return { bytes, proof: parseProof(bytes)! };
}

/** What checking such a proof needs: `stat` for each path, nothing racy to hash. */
export function proofContext(root: string, stat: StatFn): ProofContext {
  return { uet: 'u', root, targets: [], env: {}, state: '', stat, sha256: () => '', digestOf: () => undefined };
}
