/**
 * Running one command: the code shared by the pool's worker threads and the direct
 * (in-process) executor. Everything here works the same on any thread.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, statSync, unlinkSync, constants as fsc } from 'node:fs';
import { readRange } from '../util/read-range.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalGroup, groupHasLiveMembers, terminateGroup } from './kill-tree.js';
import { shellSignalReport } from './direct-command.js';
import { FORK_SERVERS, ForkServerLauncher } from './fork-server.js';
import { childProcessLauncher, type ExitStatus, type LauncherKind, type LaunchFailure, type ProcessLauncher } from './launcher.js';
import type { RunOutcome, RunRequest } from './types.js';
import { assertNever } from '../util/result.js';

/**
 * The state one task shares between the thread that owns the run() promise (the main thread)
 * and the thread that spawns the process (a worker, or the same thread). It lives in a
 * SharedArrayBuffer so the main thread can read the pid synchronously: killAll() runs in a
 * SIGINT handler just before exit and must not wait for a message from a worker.
 *
 *   PID cell:    0 (not spawned) ──publish(pid)──► pid > 0 (running) ──finish()──► -1 (done)
 *                0 ───────────────────────────finish()──────────────────────────► -1
 *   FLAGS cell:  0 ──cancel()──► CANCELLED      (at any time, from any thread; sticky)
 *
 * Race between cancel() and publish(): cancel writes FLAGS then reads PID; publish writes PID
 * then reads FLAGS. Atomics are sequentially consistent, so at least one side sees the other's
 * write, and the group is signalled by at least one of them (twice is harmless).
 */
export class TaskSlot {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.cells = new Int32Array(buffer);
  }

  /** Runner side: record the running pid; false if the task was cancelled meanwhile. */
  publish(pid: number): boolean {
    Atomics.store(this.cells, PID, pid);
    return (Atomics.load(this.cells, FLAGS) & CANCELLED) === 0;
  }

  /** Runner side: the process and its group are gone; nobody may signal that pid any more. */
  finish(): void {
    Atomics.store(this.cells, PID, DONE);
  }

  /** Owner side: mark cancelled; returns the running pid to signal, or 0 if none runs now. */
  cancel(): number {
    Atomics.or(this.cells, FLAGS, CANCELLED);
    const pid = Atomics.load(this.cells, PID);
    return pid > 0 ? pid : 0;
  }

  get cancelled(): boolean {
    return (Atomics.load(this.cells, FLAGS) & CANCELLED) !== 0;
  }

  /** The pid while running, else 0. */
  get runningPid(): number {
    const pid = Atomics.load(this.cells, PID);
    return pid > 0 ? pid : 0;
  }
}

const PID = 0;
const FLAGS = 1;
const CANCELLED = 1;
const DONE = -1;

export interface RunCommandOptions {
  /** time between SIGTERM and SIGKILL */
  readonly graceMs: number;
  readonly launcher: ProcessLauncher;
}

/** A thread's launchers by kind, one per lane (module state is per thread). */
const launchers = new Map<LauncherKind, ProcessLauncher[]>();

/**
 * Whether `kind` means a fork server here. It only exists on Linux, where it is worth having
 * (elsewhere libuv already spawns without copying page tables).
 */
export function usesForkServer(kind: LauncherKind): boolean {
  return kind !== 'child-process' && process.platform === 'linux';
}

/**
 * The launcher this thread uses for `kind` in `lane` (lane 0 is the thread's first, which a
 * hinted build warms as it loads); each lane has its own fork server (usesForkServer).
 */
export function threadLauncher(kind: LauncherKind, lane = 0): ProcessLauncher {
  let lanes = launchers.get(kind);
  if (lanes === undefined) launchers.set(kind, (lanes = []));
  let launcher = lanes[lane];
  if (launcher === undefined) {
    launcher = usesForkServer(kind) ? new ForkServerLauncher(FORK_SERVERS, kind === 'fork-server') : childProcessLauncher;
    lanes[lane] = launcher;
  }
  return launcher;
}

/** Closes every launcher of this thread, of every kind and lane (a resident process stopping). */
export function closeThreadLaunchers(): void {
  for (const lanes of launchers.values()) lanes.forEach((l) => l.close());
}

/** Grace between SIGTERM and SIGKILL for timeouts and cancellations. */
export const DEFAULT_GRACE_MS = 2000;

/**
 * Larger outputs keep their head and tail: a runaway log must not exhaust memory (or the
 * ~512 MiB string limit), and the first and last lines are the ones that explain a failure.
 */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const OUTPUT_HEAD_BYTES = 1024 * 1024;

/**
 * Run `shell -c command` in its own process group (started by `opts.launcher`) and resolve with
 * its outcome. Never rejects: a spawn failure is an outcome with `spawnError`.
 *
 * Output goes to one unlinked temp file opened O_APPEND and passed as both stdout and stderr,
 * rather than to two pipes: with one open file description the kernel orders every write, so
 * the interleaving is exact (two pipes only give the order in which the event loop happened to
 * poll them). It also means a grandchild that keeps the descriptor open cannot hold the task
 * open, as it could a pipe.
 *
 * When the shell exits, any process still in its group is terminated before the outcome is
 * returned: the build hashes a task's outputs right after it finishes, and a straggler still
 * writing them would poison the cache.
 */
export async function runCommand(req: RunRequest, slot: TaskSlot, opts: RunCommandOptions): Promise<RunOutcome> {
  // not performance.now(): the global loads perf_hooks on first use, ~1 ms of a touch's first command
  const started = process.hrtime.bigint();
  const outcome = (fields: Partial<RunOutcome>): RunOutcome => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: slot.cancelled,
    output: '',
    durationMs: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
    ...fields,
  });

  if (slot.cancelled) {
    slot.finish();
    return outcome({});
  }

  const out = acquireOutputFile();
  if (!out.ok) {
    slot.finish();
    return outcome({ spawnError: `cannot create an output file: ${out.error}` });
  }
  const fd = out.fd;

  const launched = await opts.launcher.launch(req, fd);
  if (!launched.ok) {
    releaseOutputFile(fd, true);
    slot.finish();
    return outcome({ spawnError: describeLaunchFailure(launched.error, req) });
  }
  const { pid, exit } = launched.value;

  let timedOut = false;
  /** this run signalled the group itself (a timeout, or a cancel that raced with the spawn) */
  let signalled = false;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = (): void => {
    signalled = true;
    signalGroup(pid, 'SIGTERM');
    killTimer ??= setTimeout(() => signalGroup(pid, 'SIGKILL'), opts.graceMs);
  };

  if (!slot.publish(pid)) {
    // cancelled between the check above and the spawn: the canceller saw no pid, so we kill
    terminate();
  } else if (req.timeoutMs !== undefined && req.timeoutMs >= 0) {
    timeoutTimer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, req.timeoutMs);
  }

  const status = await exit;
  clearTimeout(timeoutTimer);
  clearTimeout(killTimer);

  // the shell is reaped; anything left in its group is a straggler (see above). An empty group
  // stays empty (nothing can join a group that no longer exists), so the launcher's word holds.
  const groupGone = status.groupEmpty === true || !groupHasLiveMembers(pid) || (await terminateGroup(pid, opts.graceMs));
  slot.finish();

  const output = readOutput(fd);
  releaseOutputFile(fd, groupGone);
  const reported = status.directSignal !== undefined && !signalled && !slot.cancelled ? asShellReports(status.directSignal, status.signal, output) : { code: status.code, signal: status.signal, output };
  return outcome({ exitCode: reported.code, signal: reported.signal, timedOut, output: reported.output, ...(status.lost !== undefined ? { spawnError: status.lost } : {}) });
}

/**
 * A command started without its shell (direct-command.ts) and ended by a signal uet did not
 * send: the shell that would have waited for it says so and exits with 128 + the signal's
 * number, and that is what the task reports, as it would have through the shell.
 */
function asShellReports(ended: NonNullable<ExitStatus['directSignal']>, name: string | null, output: string): { code: number; signal: null; output: string } {
  const report = shellSignalReport(name, ended.number, ended.coreDumped);
  return { code: report.code, signal: null, output: output + report.line };
}

/**
 * Output files are recycled: creating and unlinking a file on a disk-backed tmpdir costs
 * ~0.3 ms (journal), a fifth of a trivial task; truncating a kept one costs ~15 µs. One list
 * per thread (module state is per thread).
 */
const spareOutputFds: number[] = [];
/** A pool thread needs one; the direct executor's burst peaks should not pin descriptors. */
const MAX_SPARE_OUTPUT_FDS = 32;
let outputCounter = 0;

/**
 * Tells this thread's output files from another thread's of the same process (the counter is
 * per thread): chosen once per thread, as each thread evaluates this module, rather than read
 * from node:worker_threads, whose loading (~2 ms) every command-running build paid for.
 */
const THREAD_TOKEN = Math.random().toString(36).slice(2, 10);

function acquireOutputFile(): { ok: true; fd: number } | { ok: false; error: string } {
  const spare = spareOutputFds.pop();
  if (spare !== undefined) return { ok: true, fd: spare };
  const name = `uet-out-${process.pid}-${THREAD_TOKEN}-${++outputCounter}-${Math.random().toString(36).slice(2, 8)}`;
  const path = join(tmpdir(), name);
  try {
    const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND, 0o600);
    // unlinked at once: the file lives only as long as the descriptor, and a crash leaves nothing
    try {
      unlinkSync(path);
    } catch {
      // still usable; at worst a stray temp file
    }
    return { ok: true, fd };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * `reusable` is false when a process of the task may still hold the descriptor (it survived
 * SIGKILL): its late writes must not land in another task's output.
 */
function releaseOutputFile(fd: number, reusable: boolean): void {
  if (reusable && spareOutputFds.length < MAX_SPARE_OUTPUT_FDS) {
    try {
      ftruncateSync(fd, 0);
      spareOutputFds.push(fd);
      return;
    } catch {
      // fall through: a descriptor we cannot truncate is not worth keeping
    }
  }
  closeQuietly(fd);
}

function readOutput(fd: number): string {
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch {
    return '';
  }
  if (size <= MAX_OUTPUT_BYTES) return readRange(fd, 0, size).toString('utf8');
  const tailBytes = MAX_OUTPUT_BYTES - OUTPUT_HEAD_BYTES;
  const head = readRange(fd, 0, OUTPUT_HEAD_BYTES).toString('utf8');
  const tail = readRange(fd, size - tailBytes, tailBytes).toString('utf8');
  return `${head}\n[uet: ${size - MAX_OUTPUT_BYTES} bytes of output omitted]\n${tail}`;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

/** Says what the user can act on: spawn's ENOENT means either the shell or the cwd. */
function describeLaunchFailure(failure: LaunchFailure, req: RunRequest): string {
  switch (failure.kind) {
    case 'cwd':
      return `working directory does not exist: ${req.cwd}`;
    case 'shell':
      return isDirectory(req.cwd) ? `shell not found: ${req.shell}` : `working directory does not exist: ${req.cwd}`;
    case 'permission':
      return `cannot execute shell ${req.shell} in ${req.cwd}: permission denied`;
    case 'output':
      return `cannot open the output file for the command: ${failure.message}`;
    case 'system':
      return `cannot start ${req.shell}: ${failure.message}`;
    default:
      return assertNever(failure, 'launch failure');
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
