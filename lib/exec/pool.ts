/**
 * TaskExecutors: the piscina-backed pool used by real builds, and a direct in-process one for
 * tests and as a fallback. Both share the spawning code (spawn.ts) and the bookkeeping below;
 * they differ only in which thread calls runCommand().
 */
import type { Piscina } from 'piscina';
import { signalGroup, terminateGroup, terminateGroupsSync } from './kill-tree.js';
import type { LauncherKind, ProcessLauncher } from './launcher.js';
import { DEFAULT_GRACE_MS, runCommand, TaskSlot, threadLauncher, usesForkServer } from './spawn.js';
import type { RunOutcome, RunRequest, TaskExecutor } from './types.js';
import type { WorkerState } from '../events/types.js';
import type { WorkerBusyMessage, WorkerTask } from './worker.js';
import { importModule } from '../util/import-module.js';

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

/** each worker's lifecycle, for the run log: SPAWNING → IDLE ⇄ BUSY → DRAINING → TERMINATED */
type OnWorker = (worker: number, state: WorkerState, task?: string) => void;

export interface PoolExecutorOptions extends ExecutorOptions {
  readonly threads: number;
  readonly onWorker?: OnWorker;
}

export interface LaneExecutorOptions extends ExecutorOptions {
  /** commands that may run at once without waiting for another's start (the build's -j) */
  readonly lanes: number;
  /** each lane's lifecycle, as a pool worker's */
  readonly onWorker?: OnWorker;
  /** the launcher of each lane (default: this thread's, threadLauncher); tests give one without a fork server */
  readonly laneLauncher?: (lane: number) => ProcessLauncher;
}

const DEFAULT_INTERRUPT_GRACE_MS = 500;
const DEFAULT_LAUNCHER: LauncherKind = 'fork-server';
const WORKER_YOUNG_GENERATION_MB = 2;

/** Runs one task on some thread; must fill in the slot's pid while the process runs. */
type Dispatch = (req: RunRequest, slot: TaskSlot, graceMs: number) => Promise<RunOutcome>;

export interface BuildExecutorOptions extends ExecutorOptions {
  /** commands run at once (-j) */
  readonly jobs: number;
  readonly onWorker?: OnWorker;
  /** a handful of commands: one lane, or where there is no fork server, this thread (see createBuildExecutor) */
  readonly fewTasks?: boolean;
}

/**
 * A build's executor: lanes where the fork server can run (Linux, unless UET_FORK_SERVER=0),
 * else the piscina pool, or this thread for a handful of commands (the pool's threads take
 * longer to start, ~90 ms on a busy 2-CPU machine, than such a build's tasks take to run).
 *
 * A handful of commands share one lane, up to -j at once: a second fork server costs ~10 ms of
 * CPU to start, which such a build's commands spend waiting for it (a touch of 10,000 tasks
 * that runs 7: 205.5 -> 195.5 ms). A lane per job pays only over many commands, whose forks
 * then do not queue behind each other's.
 */
export function createBuildExecutor(opts: BuildExecutorOptions): TaskExecutor {
  const launcher = opts.launcher ?? DEFAULT_LAUNCHER;
  if (usesForkServer(launcher)) return createLaneExecutor({ ...opts, lanes: opts.fewTasks === true ? 1 : opts.jobs });
  if (opts.fewTasks === true) return createDirectExecutor(opts);
  return createPoolExecutor({ ...opts, threads: opts.jobs });
}

export function createPoolExecutor(opts: PoolExecutorOptions): TaskExecutor {
  const pool = piscinaDispatcher(opts);
  return new TrackingExecutor(pool.dispatch, pool.shutdown, opts);
}

/** The piscina pool, started with the first task, as a Dispatch and its shutdown. */
function piscinaDispatcher(opts: PoolExecutorOptions): { dispatch: Dispatch; shutdown: () => Promise<void> } {
  const threads = Math.max(1, Math.floor(opts.threads));
  const onWorker = opts.onWorker;
  const launcher = opts.launcher ?? DEFAULT_LAUNCHER;
  const live = new Set<number>();
  // The pool (and piscina itself) starts with the first task: a build with nothing to run,
  // the common case, pays for neither the module nor the worker threads.
  let pool: Promise<Piscina<WorkerTask, RunOutcome>> | undefined;
  const start = async (): Promise<Piscina<WorkerTask, RunOutcome>> => {
    const { Piscina: Pool } = await importModule<typeof import('piscina')>('piscina');
    const p = new Pool<WorkerTask, RunOutcome>({
      // resolved next to this file, so it works from dist/lib/exec/ wherever the package lives;
      // CommonJS, which loads worker.js with import() (see worker-entry.cts)
      filename: new URL('./worker-entry.cjs', import.meta.url).href,
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
  return {
    dispatch: async (req, slot, graceMs) => {
      const outcome = await (await (pool ??= start())).run({ req, slot: slot.buffer, graceMs, launcher });
      if (onWorker && outcome.worker !== undefined) onWorker(outcome.worker, 'idle');
      return outcome;
    },
    shutdown: async () => {
      const p = await pool?.catch(() => undefined);
      if (!p) return;
      if (onWorker) for (const id of live) onWorker(id, 'draining');
      await p.destroy();
    },
  };
}

/**
 * Commands started from this thread through fork servers, one per lane (a job slot): what a
 * build on Linux uses. With the fork server, starting a command is a line written to a pipe,
 * so a worker thread per job only adds cost: its event loop, a message each way per task and
 * a thread to schedule. On a cold build of 2,000 trivial tasks at -j2 the piscina pool's two
 * workers took 0.88 s of CPU, and the build went 3.56 → 2.97 s (102 → 79 MB) started from this
 * thread (bench/RESULTS.md). Each lane keeps its own server so that one command's fork and exec
 * never wait for another's.
 *
 * A lane is a worker in the run log (its number, from 1), started lowest first and only when
 * a command finds none ready, so a build that never runs two commands at once starts one
 * server. A command waits for the first lane to be ready: a lane that finishes its command
 * takes it if that comes before the new lane's server is up (~10-15 ms of a fork server's start, against
 * ~3 ms a trivial command takes on a lane already running).
 *
 *   UNUSED ──a command finds no lane ready──► STARTING ──server up──► IDLE ⇄ BUSY ──close()──► DRAINING → TERMINATED
 *
 * (STARTING is the run log's `spawning`, said once the server is up.) Callers beyond `lanes`
 * commands at once, when every lane is busy, share the least busy lane: its server forks them
 * one after the other.
 *
 * Where the fork server cannot run (no perl), commands go to the piscina pool instead, with
 * child_process: spawning from this thread would copy uet's page tables at every command.
 */
export function createLaneExecutor(opts: LaneExecutorOptions): TaskExecutor {
  const lanes = Math.max(1, Math.floor(opts.lanes));
  const kind = opts.launcher ?? DEFAULT_LAUNCHER;
  const onWorker = opts.onWorker;
  const launcherOf = opts.laneLauncher ?? ((lane: number) => threadLauncher(kind, lane));
  type LaneState = 'unused' | 'starting' | 'ready';
  const state = new Array<LaneState>(lanes).fill('unused');
  /** commands each lane runs now */
  const running = new Array<number>(lanes).fill(0);
  interface Waiting {
    readonly req: RunRequest;
    readonly slot: TaskSlot;
    readonly graceMs: number;
    readonly resolve: (outcome: RunOutcome) => void;
    readonly reject: (e: unknown) => void;
  }
  const waiting: Waiting[] = [];
  let fallback: ReturnType<typeof piscinaDispatcher> | undefined;
  /** a lane still starting when the executor closed is left to its launcher (closed, or kept) */
  let closed = false;

  const runOn = (lane: number, w: Waiting): void => {
    running[lane]!++;
    onWorker?.(lane + 1, 'busy', w.req.taskId);
    runCommand(w.req, w.slot, { graceMs: w.graceMs, launcher: launcherOf(lane) })
      .then(
        (outcome) => {
          onWorker?.(lane + 1, 'idle');
          w.resolve({ ...outcome, worker: lane + 1 });
        },
        (e: unknown) => w.reject(e),
      )
      .finally(() => {
        running[lane]!--;
        assign();
      });
  };
  const toFallback = (w: Waiting): void => {
    fallback ??= piscinaDispatcher({ ...opts, threads: lanes, launcher: 'child-process' });
    fallback.dispatch(w.req, w.slot, w.graceMs).then(w.resolve, w.reject);
  };
  const start = (lane: number): void => {
    state[lane] = 'starting';
    // a launcher that failed to say is taken as unable to run
    void Promise.resolve(launcherOf(lane).usable?.() ?? true)
      .catch(() => false)
      .then((usable) => {
        if (closed) return;
        // a lane found the fork server unable to run: so would the others (the same perl)
        if (!usable) {
          state[lane] = 'unused';
          for (const w of waiting.splice(0)) toFallback(w);
          return;
        }
        state[lane] = 'ready';
        onWorker?.(lane + 1, 'spawning');
        onWorker?.(lane + 1, 'idle');
        assign();
      });
  };
  /** gives the waiting commands to lanes: an idle lane, else a new one, else the least busy */
  const assign = (): void => {
    while (waiting.length > 0) {
      if (fallback) {
        for (const w of waiting.splice(0)) toFallback(w);
        return;
      }
      const idle = state.findIndex((st, lane) => st === 'ready' && running[lane] === 0);
      if (idle >= 0) {
        runOn(idle, waiting.shift()!);
        continue;
      }
      const starting = state.filter((st) => st === 'starting').length;
      const unused = state.indexOf('unused');
      if (unused >= 0 && starting < waiting.length) {
        start(unused);
        continue;
      }
      if (starting > 0) return;
      // every lane busy: more callers than lanes
      const ready = state.flatMap((st, lane) => (st === 'ready' ? [lane] : []));
      const lane = ready.reduce((best, l) => (running[l]! < running[best]! ? l : best), ready[0]!);
      runOn(lane, waiting.shift()!);
    }
  };
  const dispatch: Dispatch = (req, slot, graceMs) =>
    new Promise<RunOutcome>((resolve, reject) => {
      waiting.push({ req, slot, graceMs, resolve, reject });
      assign();
    });
  return new TrackingExecutor(
    dispatch,
    async () => {
      closed = true;
      state.forEach((st, lane) => {
        if (st === 'unused') return;
        if (st === 'ready') onWorker?.(lane + 1, 'draining');
        if (opts.keepLauncher !== true) launcherOf(lane).close();
        if (st === 'ready') onWorker?.(lane + 1, 'terminated');
      });
      await fallback?.shutdown();
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
