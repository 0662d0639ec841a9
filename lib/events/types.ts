/**
 * The events of one run, appended as JSON lines to .uet/runs/<ULID>.jsonl as they happen.
 * `at` is ms since epoch. Later issues add patch, worker and breaker events.
 */
/** A pool worker's life: SPAWNING → IDLE ⇄ BUSY → DRAINING → TERMINATED. */
export type WorkerState = 'spawning' | 'idle' | 'busy' | 'draining' | 'terminated';

/** What happened to an isolated workstream's worktree (`cleaned`: left by an earlier, crashed build). */
export type WorktreeOp = 'created' | 'committed' | 'removed' | 'cleaned';

/** One branch's integration into the user's branch; `left`: kept for the user (--no-integrate, or a failure). */
export type IntegrationStatus = 'merged' | 'up-to-date' | 'conflict' | 'refused' | 'gates-failed' | 'left';

export type TaskStatus = 'fresh' | 'restored' | 'ran' | 'failed' | 'blocked' | 'skipped';

export type RunEvent =
  | { type: 'run-start'; runId: string; at: number; targets: string[]; argv: string[]; pid: number; tasks: number }
  | { type: 'task-start'; runId: string; at: number; task: string; reason: string }
  | { type: 'task-end'; runId: string; at: number; task: string; status: TaskStatus; durationMs: number; exitCode?: number | null; reason?: string; key?: string; worker?: number; attempts?: number }
  | { type: 'task-attempt'; runId: string; at: number; task: string; attempt: number; of: number; reason: string; delayMs: number; worker?: number }
  | { type: 'breaker'; runId: string; at: number; tool: string; from: 'closed' | 'open' | 'half-open'; to: 'closed' | 'open' | 'half-open' }
  | { type: 'worker'; runId: string; at: number; worker: number; state: WorkerState; task?: string }
  | { type: 'gate-end'; runId: string; at: number; gate: string; status: 'passed' | 'failed' | 'blocked'; blocking: boolean; reason?: string }
  | { type: 'phase-end'; runId: string; at: number; phase: string; status: 'passed' | 'failed' | 'blocked' }
  | { type: 'cache'; runId: string; at: number; task: string; op: 'restore' | 'store' | 'miss' | 'corrupt' | 'error'; detail?: string }
  | { type: 'worktree'; runId: string; at: number; workstream: string; op: WorktreeOp; branch: string; path?: string; commit?: string; files?: string[]; detail?: string }
  | { type: 'integration'; runId: string; at: number; phase: string; branch: string; into: string; status: IntegrationStatus; files?: string[]; commit?: string; message?: string }
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
  /** a patch ledger transition (from: null when the entry was created) */
  | { type: 'patch'; runId: string; at: number; patchId: string; hash: string; task: string; from: string | null; to: string; reason: string }
  /** a FIX loop gave up: E_OSCILLATION (same error or patch again) or E_FIX_LIMIT (max_fix_attempts/max_attempts) */
  | { type: 'fix-breaker'; runId: string; at: number; task: string; code: 'E_OSCILLATION' | 'E_FIX_LIMIT'; reason: string }
  /** the fast path's whole decision: the no-op proof held (lib/build/noop-proof.ts), so no task was examined */
  | { type: 'noop-proof'; runId: string; at: number; paths: number }
  /** the no-op proof held but for these files: only the tasks they reach were examined */
  | { type: 'unchanged'; runId: string; at: number; tasks: number; changed: string[] }
  /** whether this build left a no-op proof for the next one, and if not, why (`uet runs last`, --verbose) */
  | { type: 'proof-written'; runId: string; at: number; written: boolean; reason?: string }
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
