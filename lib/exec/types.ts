export interface RunRequest {
  readonly taskId: string;
  readonly command: string;
  /** e.g. /bin/sh; the command runs as `shell -c command` */
  readonly shell: string;
  /** absolute */
  readonly cwd: string;
  /** the whole environment the child sees: nothing is inherited */
  readonly env: Readonly<Record<string, string>>;
  /** milliseconds; on expiry the whole process tree is killed */
  readonly timeoutMs?: number;
}

export interface RunOutcome {
  /** null when killed by a signal */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** killed because the build was interrupted (cancel / killAll) */
  readonly cancelled: boolean;
  /** stdout and stderr interleaved in arrival order */
  readonly output: string;
  readonly durationMs: number;
  /** the pool worker (thread id) that ran it, when a pool ran it */
  readonly worker?: number;
  /** set when the shell could not be started at all */
  readonly spawnError?: string;
}

/** Runs commands. The pool is the real one; tests and dry-run swap in others. */
export interface TaskExecutor {
  run(req: RunRequest, signal?: AbortSignal): Promise<RunOutcome>;
  /** kill every running process tree now (SIGTERM, then SIGKILL after a grace period) */
  killAll(): void;
  close(): Promise<void>;
}
