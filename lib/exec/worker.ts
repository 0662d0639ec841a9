/**
 * Piscina worker: runs one command per task. Kept tiny (no piscina import) so a worker starts
 * fast; all the logic is shared with the direct executor in spawn.ts.
 */
import { runCommand, TaskSlot } from './spawn.js';
import type { RunOutcome, RunRequest } from './types.js';

export interface WorkerTask {
  readonly req: RunRequest;
  /** the TaskSlot's SharedArrayBuffer: shared (not copied) with the main thread */
  readonly slot: SharedArrayBuffer;
  readonly graceMs: number;
}

export default function runTask(task: WorkerTask): Promise<RunOutcome> {
  return runCommand(task.req, new TaskSlot(task.slot), { graceMs: task.graceMs });
}
