/**
 * What a watch session remembers of failures, per task and key, so that nothing is retried
 * until its inputs change again — and so that a task writing one of its own inputs cannot
 * loop: saving a file re-runs the task, whose run changes the file, whose change re-runs it...
 *
 * The loop rule: a run whose inputs changed while it ran is not recorded (the runner's rule),
 * and the task runs once more. If that run too changes the inputs, and it started from exactly
 * what the previous run left (keyBefore = the previous keyAfter: nobody else touched them),
 * the task is writing its own inputs: it is remembered as failed at the key it left, and it
 * runs again only when something else changes its inputs. An idempotent writer (a formatter)
 * settles on its second run and is recorded as a success.
 */
import type { FailureMemory } from '../build/runner.js';

export interface WatchFailureMemory extends FailureMemory {
  /** forget everything (the graph was compiled again: keys may mean other things) */
  clear(): void;
}

export function createFailureMemory(): WatchFailureMemory {
  /** taskId → the key it failed with, and why */
  const failures = new Map<string, { key: string; why: string }>();
  /** taskId → the key the task's last run left its inputs at, when that run changed them */
  const leftChanged = new Map<string, string>();
  return {
    failedBefore(taskId, key) {
      const f = failures.get(taskId);
      return f && f.key === key ? f.why : undefined;
    },
    failed(taskId, key, why) {
      failures.set(taskId, { key, why });
    },
    changedWhileRunning(taskId, keyBefore, keyAfter) {
      if (leftChanged.get(taskId) === keyBefore) {
        failures.set(taskId, { key: keyAfter, why: 'it changes its own inputs on every run' });
        leftChanged.delete(taskId);
        return;
      }
      leftChanged.set(taskId, keyAfter);
    },
    clear() {
      failures.clear();
      leftChanged.clear();
    },
  };
}
