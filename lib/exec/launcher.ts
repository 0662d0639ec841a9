/**
 * Starting one process: the edge between uet and the operating system's process creation.
 *
 * runCommand (spawn.ts) owns everything around a run (output file, timeouts, process group,
 * stragglers); a ProcessLauncher only starts `shell -c command` in a new session with the
 * given stdout/stderr file, and tells when the shell exits. Two implementations:
 * - the child_process launcher here, which works everywhere;
 * - the fork server (fork-server.ts), a small helper process that forks on our behalf. On
 *   Linux libuv creates a process with fork(), which copies the page tables of uet's whole
 *   address space (3.2 ms a spawn at 115 MB of RSS, 6.2 at 179); a helper of ~7 MB forks in
 *   a fraction of that.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { RunRequest } from './types.js';
import { err, ok, type Result } from '../util/result.js';
import { errnoCode } from '../util/errno.js';

/**
 * Which launcher a thread uses; the fork server falls back to child_process where it cannot run.
 * `fork-server-shell`: the fork server, starting every command through its shell (the fork
 * server starts those that need none without it: direct-command.ts).
 */
export type LauncherKind = 'fork-server' | 'fork-server-shell' | 'child-process';

/**
 * `UET_FORK_SERVER=0` in uet's environment: start commands from node itself (always through
 * the shell); `UET_DIRECT_EXEC=0`: through the fork server, but always through the shell.
 */
export function launcherFromEnv(env: Readonly<Record<string, string | undefined>>): LauncherKind {
  if (env.UET_FORK_SERVER === '0') return 'child-process';
  return env.UET_DIRECT_EXEC === '0' ? 'fork-server-shell' : 'fork-server';
}

export interface ExitStatus {
  /** null when a signal ended the shell */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** set when the launcher lost track of the process: neither code nor signal is known */
  readonly lost?: string;
  /**
   * set when a signal ended a command started without its shell (direct-command.ts): the
   * signal's number (the name may be unknown to node) and whether it left a core dump
   */
  readonly directSignal?: { readonly number: number; readonly coreDumped: boolean };
  /** true when the launcher saw the process group empty once the shell was reaped: nothing of it is left to stop */
  readonly groupEmpty?: boolean;
}

export interface LaunchedProcess {
  /** the shell's pid, which is also its process group's and session's id */
  readonly pid: number;
  /** settles once the shell has exited and been reaped; never rejects */
  readonly exit: Promise<ExitStatus>;
}

/**
 * Why a process did not start.
 * - `cwd`: the working directory cannot be entered;
 * - `shell`: the shell does not exist;
 * - `permission`: the shell (or the directory) may not be executed;
 * - `output`: the output file cannot be opened for the child;
 * - `system`: anything else (fork failing for lack of processes, the launcher gone).
 */
export type LaunchFailure =
  | { readonly kind: 'cwd' }
  | { readonly kind: 'shell' }
  | { readonly kind: 'permission' }
  | { readonly kind: 'output'; readonly message: string }
  | { readonly kind: 'system'; readonly message: string };

export interface ProcessLauncher {
  /**
   * Start `req.shell -c req.command` in its own session, in `req.cwd`, with exactly `req.env`,
   * stdin from /dev/null, and stdout and stderr both on the open file `outputFd`.
   */
  launch(req: RunRequest, outputFd: number): Promise<Result<LaunchedProcess, LaunchFailure>>;
  /** let the thread's event loop end while nothing runs; a later launch() still works */
  close(): void;
  /** start what launching needs now rather than at the first launch (a resident process) */
  warm?(): Promise<void>;
  /**
   * Whether launch() starts processes by this launcher's own means: false when it falls back
   * to child_process (a fork server that cannot run). Absent: always.
   */
  usable?(): Promise<boolean>;
}

/** node:child_process (libuv's fork-and-exec). */
export const childProcessLauncher: ProcessLauncher = {
  async launch(req, outputFd) {
    let child;
    try {
      child = spawn(req.shell, ['-c', req.command], {
        cwd: req.cwd,
        env: { ...req.env },
        detached: true,
        stdio: ['ignore', outputFd, outputFd],
      });
    } catch (e) {
      // invalid arguments (e.g. a NUL byte in the command) throw synchronously
      return err({ kind: 'system', message: messageOf(e) });
    }
    const pid = child.pid;
    if (pid === undefined) {
      // ENOENT/EACCES/EAGAIN are reported by an 'error' event on the next tick
      const error = await new Promise<unknown>((resolve) => child.once('error', resolve));
      return err(failureFromErrno(errnoCode(error), messageOf(error)));
    }
    // after a successful spawn 'error' only reports failed kill()s, which runCommand handles
    // itself; without a listener such an event would crash the thread
    child.on('error', () => {});
    const exit = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    return ok({ pid, exit });
  },
  close() {},
};

/**
 * ENOENT from a spawn means the shell or the cwd; the launcher cannot tell which, so `shell`
 * here is refined by runCommand (which checks whether the cwd is a directory).
 */
export function failureFromErrno(code: string | undefined, message: string): LaunchFailure {
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return { kind: 'shell' };
    case 'EACCES':
    case 'EPERM':
      return { kind: 'permission' };
    default:
      return { kind: 'system', message };
  }
}

/** errno number → its name (2 → 'ENOENT'), as node's errors carry it */
export function errnoName(errno: number): string | undefined {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return undefined;
}

/** signal number → its name (15 → 'SIGTERM'), as child_process reports it */
export function signalName(signo: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name as NodeJS.Signals;
  return null;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
