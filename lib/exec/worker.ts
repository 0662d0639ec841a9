/**
 * Piscina worker: runs one command per task. Kept tiny (no piscina import) so a worker starts
 * fast; all the logic is shared with the direct executor in spawn.ts.
 */
import { parentPort, threadId } from 'node:worker_threads';
import type { LauncherKind } from './launcher.js';
import { runCommand, TaskSlot, threadLauncher } from './spawn.js';
import type { RunOutcome, RunRequest } from './types.js';
import { collectGarbage } from '../util/v8-flags.js';

/** tasks a worker runs between two full collections of its heap (see runTask) */
export const WORKER_COLLECT_EVERY = 500;

/** calls `collect` once every `every` calls of the function it returns */
export function everyNth(every: number, collect: () => void): () => void {
  let calls = 0;
  return () => {
    if (++calls % every === 0) collect();
  };
}

// A worker keeps nothing from one task to the next, but what its tasks' bookkeeping promoted
// stays in its old generation until V8's first limit: over 5,000 tasks each worker's heap grew
// 9.7 → 12.8 MB. Collected every 500 tasks (~5 ms each, ~0.01 ms a task), it stays at 8.4 MB.
const afterTask = everyNth(WORKER_COLLECT_EVERY, collectGarbage);

export interface WorkerTask {
  readonly req: RunRequest;
  /** the TaskSlot's SharedArrayBuffer: shared (not copied) with the main thread */
  readonly slot: SharedArrayBuffer;
  readonly graceMs: number;
  readonly launcher: LauncherKind;
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
  const outcome = await runCommand(task.req, new TaskSlot(task.slot), { graceMs: task.graceMs, launcher: threadLauncher(task.launcher) });
  afterTask();
  return { ...outcome, worker: threadId };
}
