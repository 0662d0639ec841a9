/**
 * Piscina worker: runs one command per task. Kept tiny (no piscina import) so a worker starts
 * fast; all the logic is shared with the direct executor in spawn.ts.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { runCommand, TaskSlot } from './spawn.js';
import type { RunOutcome, RunRequest } from './types.js';

export interface WorkerTask {
  readonly req: RunRequest;
  /** the TaskSlot's SharedArrayBuffer: shared (not copied) with the main thread */
  readonly slot: SharedArrayBuffer;
  readonly graceMs: number;
}

/** Tells the main thread which worker took which task (piscina re-emits it as a pool 'message'). */
export interface WorkerBusyMessage {
  readonly uet: 'busy';
  readonly worker: number;
  readonly task: string;
}

export default async function runTask(task: WorkerTask): Promise<RunOutcome> {
  const busy: WorkerBusyMessage = { uet: 'busy', worker: threadId, task: task.req.taskId };
  parentPort?.postMessage(busy);
  const outcome = await runCommand(task.req, new TaskSlot(task.slot), { graceMs: task.graceMs });
  return { ...outcome, worker: threadId };
}
