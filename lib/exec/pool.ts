/**
 * TaskExecutors: the piscina-backed pool used by real builds, and a direct in-process one for
 * tests and as a fallback. Both share the spawning code (spawn.ts) and the bookkeeping below;
 * they differ only in which thread calls runCommand().
 */
import type { Piscina } from 'piscina';
import { signalGroup, terminateGroup, terminateGroupsSync } from './kill-tree.js';
import type { LauncherKind } from './launcher.js';
import { DEFAULT_GRACE_MS, runCommand, TaskSlot, threadLauncher } from './spawn.js';
import type { RunOutcome, RunRequest, TaskExecutor } from './types.js';
import type { WorkerState } from '../events/types.js';
import type { WorkerBusyMessage, WorkerTask } from './worker.js';

export interface ExecutorOptions {
  /** SIGTERM→SIGKILL grace for timeouts and aborted tasks (default 2000 ms) */
  readonly graceMs?: number;
  /**
   * SIGTERM→SIGKILL grace for killAll(). Short, because killAll blocks the thread (it runs
   * just before exit and cannot rely on timers firing); it only waits while something
   * survives SIGTERM. Default 500 ms.
   */
  readonly interruptGraceMs?: number;
  /** how processes are started (default: the fork server, where it can run) */
  readonly launcher?: LauncherKind;
  /** leave this thread's launcher running at close (a resident process's next build uses it) */
  readonly keepLauncher?: boolean;
}

export interface PoolExecutorOptions extends ExecutorOptions {
  readonly threads: number;
  /** each worker's lifecycle, for the run log: SPAWNING → IDLE ⇄ BUSY → DRAINING → TERMINATED */
  readonly onWorker?: (worker: number, state: WorkerState, task?: string) => void;
}

const DEFAULT_INTERRUPT_GRACE_MS = 500;
const DEFAULT_LAUNCHER: LauncherKind = 'fork-server';
const WORKER_YOUNG_GENERATION_MB = 2;

/** Runs one task on some thread; must fill in the slot's pid while the process runs. */
type Dispatch = (req: RunRequest, slot: TaskSlot, graceMs: number) => Promise<RunOutcome>;

export function createPoolExecutor(opts: PoolExecutorOptions): TaskExecutor {
  const threads = Math.max(1, Math.floor(opts.threads));
  const onWorker = opts.onWorker;
  const launcher = opts.launcher ?? DEFAULT_LAUNCHER;
  const live = new Set<number>();
  // The pool (and piscina itself) starts with the first task: a build with nothing to run,
  // the common case, pays for neither the module nor the worker threads.
  let pool: Promise<Piscina<WorkerTask, RunOutcome>> | undefined;
  const start = async (): Promise<Piscina<WorkerTask, RunOutcome>> => {
    const { Piscina: Pool } = await import('piscina');
    const p = new Pool<WorkerTask, RunOutcome>({
      // resolved next to this file, so it works from dist/lib/exec/ wherever the package lives
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 1,
      // the default ('sync') parks idle workers in Atomics.wait: the cheapest hand-off, and safe
      // because runCommand leaves no handle open once its promise settles
      atomics: 'sync',
      // A worker only spawns and waits: by default its young generation grows like the main
      // thread's (to 48 MB), which on a cold 2,000-task build was ~12 MB of peak RSS for nothing
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    // errors of a task reject that task's promise; this only covers worker errors outside a
    // task, which an EventEmitter without a listener would rethrow and crash the process with
    p.on('error', () => {});
    if (onWorker) {
      p.on('workerCreate', (w: { id: number }) => {
        live.add(w.id);
        onWorker(w.id, 'spawning');
        onWorker(w.id, 'idle');
      });
      p.on('message', (m: unknown) => {
        if (isBusyMessage(m)) onWorker(m.worker, 'busy', m.task);
      });
      p.on('workerDestroy', (w: { id: number }) => {
        live.delete(w.id);
        onWorker(w.id, 'terminated');
      });
    }
    return p;
  };
  return new TrackingExecutor(
    async (req, slot, graceMs) => {
      const outcome = await (await (pool ??= start())).run({ req, slot: slot.buffer, graceMs, launcher });
      if (onWorker && outcome.worker !== undefined) onWorker(outcome.worker, 'idle');
      return outcome;
    },
    async () => {
      const p = await pool?.catch(() => undefined);
      if (!p) return;
      if (onWorker) for (const id of live) onWorker(id, 'draining');
      await p.destroy();
    },
    opts,
  );
}

export function createDirectExecutor(opts: ExecutorOptions = {}): TaskExecutor {
  const launcher = threadLauncher(opts.launcher ?? DEFAULT_LAUNCHER);
  return new TrackingExecutor(
    (req, slot, graceMs) => runCommand(req, slot, { graceMs, launcher }),
    async () => (opts.keepLauncher === true ? undefined : launcher.close()),
    opts,
  );
}

/**
 * Main-thread bookkeeping: which tasks are in flight and their slots, so that cancellation
 * (an AbortSignal, killAll) can signal the process groups synchronously from this thread.
 *
 *   run(): queued ──worker spawns──► running ──process group empty──► settled
 *            │                          │
 *            └──abort/killAll──► cancelled (worker skips the spawn, or the group is signalled)
 */
class TrackingExecutor implements TaskExecutor {
  private readonly inFlight = new Map<TaskSlot, Promise<RunOutcome>>();
  private readonly graceMs: number;
  private readonly interruptGraceMs: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly dispatch: Dispatch,
    private readonly shutdown: () => Promise<void>,
    opts: ExecutorOptions,
  ) {
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.interruptGraceMs = opts.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS;
  }

  run(req: RunRequest, signal?: AbortSignal): Promise<RunOutcome> {
    if (signal?.aborted) return Promise.resolve(notRun({ cancelled: true }));
    const slot = new TaskSlot();
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      killTimer = this.cancel(slot);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const promise = this.execute(req, slot).finally(() => {
      this.inFlight.delete(slot);
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
    });
    this.inFlight.set(slot, promise);
    return promise;
  }

  killAll(): void {
    const pids: number[] = [];
    for (const slot of this.inFlight.keys()) {
      const pid = slot.cancel();
      if (pid > 0) pids.push(pid);
    }
    terminateGroupsSync(pids, this.interruptGraceMs);
  }

  /** Idempotent. Tasks still running are cancelled (as by killAll) and awaited first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.inFlight.size > 0) {
        this.killAll();
        await Promise.allSettled(this.inFlight.values());
      }
      await this.shutdown();
    })();
    return this.closing;
  }

  private async execute(req: RunRequest, slot: TaskSlot): Promise<RunOutcome> {
    try {
      const outcome = await this.dispatch(req, slot, this.graceMs);
      // the runner reads the flag when it finishes; a cancel that raced with the exit still counts
      return slot.cancelled && !outcome.cancelled ? { ...outcome, cancelled: true } : outcome;
    } catch (e) {
      // the worker thread died or the pool was destroyed under the task: not the command's
      // fault, but the build must see an outcome and no process of the task may survive
      const pid = slot.runningPid;
      if (pid > 0) await terminateGroup(pid, this.graceMs);
      const message = e instanceof Error ? e.message : String(e);
      return notRun({ cancelled: slot.cancelled, spawnError: `executor failure: ${message}` });
    }
  }

  /**
   * AbortSignal path: like killAll for one task, but asynchronous (the build goes on).
   * Returns the SIGKILL timer, which the caller clears once the task settles.
   */
  private cancel(slot: TaskSlot): NodeJS.Timeout | undefined {
    const pid = slot.cancel();
    if (pid === 0) return undefined; // not spawned yet: the runner sees the flag and skips it
    signalGroup(pid, 'SIGTERM');
    // the runner reaps the group only once the shell exits; a shell ignoring SIGTERM needs this
    return setTimeout(() => {
      if (slot.runningPid === pid) signalGroup(pid, 'SIGKILL');
    }, this.graceMs);
  }
}

function isBusyMessage(m: unknown): m is WorkerBusyMessage {
  return typeof m === 'object' && m !== null && (m as { uet?: unknown }).uet === 'busy';
}

function notRun(fields: Partial<RunOutcome>): RunOutcome {
  return { exitCode: null, signal: null, timedOut: false, cancelled: false, output: '', durationMs: 0, ...fields };
}
