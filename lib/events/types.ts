/**
 * The events of one run, appended as JSON lines to .uet/runs/<ULID>.jsonl as they happen.
 * `at` is ms since epoch. Later issues add patch, worker and breaker events.
 */
export type TaskStatus = 'fresh' | 'restored' | 'ran' | 'failed' | 'blocked' | 'skipped';

export type RunEvent =
  | { type: 'run-start'; runId: string; at: number; targets: string[]; argv: string[]; pid: number; tasks: number }
  | { type: 'task-start'; runId: string; at: number; task: string; reason: string }
  | { type: 'task-end'; runId: string; at: number; task: string; status: TaskStatus; durationMs: number; exitCode?: number | null; reason?: string; key?: string }
  | { type: 'gate-end'; runId: string; at: number; gate: string; status: 'passed' | 'failed' | 'blocked'; blocking: boolean; reason?: string }
  | { type: 'phase-end'; runId: string; at: number; phase: string; status: 'passed' | 'failed' | 'blocked' }
  | { type: 'cache'; runId: string; at: number; task: string; op: 'restore' | 'store' | 'miss' | 'corrupt' | 'error'; detail?: string }
  | { type: 'warning'; runId: string; at: number; message: string }
  /** the cache's figures for the run, emitted just before run-end (read by `uet cache stats`) */
  | {
      type: 'cache-stats';
      runId: string;
      at: number;
      local: { hits: number; misses: number };
      remote?: { url: string; hits: number; misses: number; stored: number; errors: number };
      pruned?: { entries: number; bytes: number; keptBytes: number };
    }
  | { type: 'run-end'; runId: string; at: number; status: 'success' | 'failed' | 'interrupted'; counts: Record<TaskStatus, number>; durationMs: number };

export interface RunLog {
  readonly runId: string;
  readonly path: string;
  append(event: RunEvent): void;
  close(): Promise<void>;
}
