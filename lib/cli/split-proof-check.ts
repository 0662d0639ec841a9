/**
 * The no-op proof's check split between the thread asking and one more (proof-check-worker.ts):
 * `uet serve` stats the first half of the proof's paths while its worker stats the second. The
 * answer is changedPaths' own, in its order; if the worker fails, the whole check is done here.
 */
import { Worker } from 'node:worker_threads';
import type { ChangedPath, NoopProof, ProofContext } from '../build/noop-proof.js';
import { changedPaths, changedStats, withChangedDigests } from '../build/noop-proof.js';
import type { ProofCheck } from './noop-fast-path.js';
import type { ProofCheckReply, ProofCheckRequest } from './proof-check-worker.js';

/** below this many paths the hand-off costs more than it saves */
const MIN_SPLIT = 2000;

export class SplitProofCheck implements ProofCheck {
  private worker: Worker | undefined;
  private next = 0;
  private readonly waiting = new Map<number, (reply: ProofCheckReply) => void>();

  constructor() {
    // resolved next to this file: dist/lib/cli/ under the tests, dist/bundle/ from bin/uet.js
    const worker = new Worker(new URL('./proof-check-worker.js', import.meta.url));
    // it never keeps the server alive by itself
    worker.unref();
    worker.on('message', (reply: ProofCheckReply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
    worker.on('error', (e) => this.lost(e.message));
    worker.on('exit', () => this.lost('the proof-check thread exited'));
    this.worker = worker;
  }

  async changedPaths(bytes: Buffer, proof: NoopProof, ctx: ProofContext, limit: number): Promise<ChangedPath[]> {
    const n = proof.signed.paths.length;
    const worker = this.worker;
    if (worker === undefined || n < MIN_SPLIT) return changedPaths(proof, ctx, limit);
    const mid = n >> 1;
    const far = new Promise<ProofCheckReply>((resolve) => {
      const id = this.next++;
      this.waiting.set(id, resolve);
      const req: ProofCheckRequest = { id, bytes, root: ctx.root, from: mid, to: n, limit };
      worker.postMessage(req);
    });
    const near = changedStats(proof, ctx.stat, 0, mid, limit);
    const reply = await far;
    if ('error' in reply) return changedPaths(proof, ctx, limit);
    return withChangedDigests(proof, ctx, [...near, ...reply.changed], limit);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private lost(error: string): void {
    this.worker = undefined;
    for (const [id, resolve] of this.waiting) resolve({ id, error });
    this.waiting.clear();
  }
}
