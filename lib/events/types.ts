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
  | { type: 'run-end'; runId: string; at: number; status: 'success' | 'failed' | 'interrupted'; counts: Record<TaskStatus, number>; durationMs: number };

export interface RunLog {
  readonly runId: string;
  readonly path: string;
  append(event: RunEvent): void;
  close(): Promise<void>;
}

/**
 * What `uet watch` says between its runs (with --json, one NDJSON line each, between the runs'
 * own events). `session` is the watch session's id; each run has its own run id.
 */
export type WatchEvent =
  /** files that matter changed; `tasks` read them; `during`: what the session was doing (a run: queued, or restarted) */
  | { type: 'watch-change'; session: string; at: number; files: string[]; spec: boolean; tasks: number; during: 'idle' | 'queue' | 'restart' }
  | { type: 'watch-spec-error'; session: string; at: number; errors: string[] }
  | { type: 'watch-idle'; session: string; at: number; files: number };
