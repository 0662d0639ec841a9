/**
 * A thread of `uet serve` that checks one part of a no-op proof's paths while the server checks
 * the other (lib/cli/split-proof-check.ts): stat'ing 20,000 paths is most of what a served build
 * of 10,000 tasks does before it knows what changed, and the machine's other core is idle then.
 */
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import type { ChangedPath } from '../build/noop-proof.js';
import { changedStats, parseProof, statUnder } from '../build/noop-proof.js';
import { fastStat } from '../util/fast-stat.js';

export interface ProofCheckRequest {
  readonly id: number;
  /** the proof file's bytes, as the server read them */
  readonly bytes: Uint8Array;
  readonly root: string;
  readonly from: number;
  readonly to: number;
  readonly limit: number;
}

export type ProofCheckReply = { readonly id: number; readonly changed: ChangedPath[] } | { readonly id: number; readonly error: string };

parentPort?.on('message', (req: ProofCheckRequest) => {
  let reply: ProofCheckReply;
  try {
    const proof = parseProof(Buffer.from(req.bytes.buffer, req.bytes.byteOffset, req.bytes.byteLength));
    if (!proof) throw new Error('the proof does not parse');
    const stat = statUnder(req.root, process.cwd(), fastStat(path.join(req.root, '.uet', 'fresh.log')));
    reply = { id: req.id, changed: changedStats(proof, stat, req.from, req.to, req.limit) };
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort?.postMessage(reply);
});
