/**
 * Killing a task's whole process tree.
 *
 * Every task runs in its own process group (spawned with `detached: true`, i.e. setsid), so
 * one `kill(-pgid)` reaches the shell, its children and any grandchildren that did not start
 * a new session themselves. This module only sends signals and observes liveness; it keeps
 * no state, so the main thread and the worker threads can both use it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { errnoCode } from '../util/errno.js';

export type KillSignal = 'SIGTERM' | 'SIGKILL';

/**
 * Send `sig` to every process of group `pgid`. Returns false when the group no longer exists
 * (ESRCH). EPERM means a member exists that we may not signal (it changed uid): it counts as
 * present, since we cannot do better.
 */
export function signalGroup(pgid: number, sig: KillSignal | 0): boolean {
  if (!(pgid > 1)) return false; // never signal group 0/1: that would hit our own group or init's
  try {
    process.kill(-pgid, sig);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/**
 * True when group `pgid` still has a member that is not a zombie.
 *
 * `kill(-pgid, 0)` alone is not enough: a zombie stays in its group until reaped, and orphans
 * are reaped by PID 1, which in some containers never reaps (observed in our CI sandbox).
 * So when the cheap check says "present", Linux's /proc is scanned to see whether any member
 * is actually running. The scan happens only on the rare path (something survived the
 * leader), never per ordinary task.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  const members = procGroupStates(pgid);
  if (members === null) return true; // no /proc: trust kill(2)
  return members.some(runs);
}

/** True when `pid` exists and is not a zombie (zombies count as dead: they run nothing). */
export function pidIsLive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (errnoCode(e) !== 'EPERM') return false;
  }
  const stat = readProcStat(pid);
  if (stat === null) return true;
  return runs(stat.state);
}

/**
 * SIGTERM the group, wait until it is empty, SIGKILL whatever is left after `graceMs`, then
 * wait a little more for the kernel to finish the job. Resolves true once the group is gone,
 * or false if something is unkillable (D state, other uid) after a bounded wait: the caller
 * must be able to move on.
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!signalGroup(pgid, 'SIGTERM')) return true;
  const start = Date.now();
  let killed = false;
  let delay = 2;
  for (;;) {
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
    if (!groupHasLiveMembers(pgid)) return true;
    const elapsed = Date.now() - start;
    if (!killed && elapsed >= graceMs) {
      signalGroup(pgid, 'SIGKILL');
      killed = true;
    } else if (killed && elapsed >= graceMs + AFTER_KILL_WAIT_MS) {
      return false;
    }
  }
}

/**
 * The synchronous variant for interrupt handlers that are about to exit: SIGTERM every group
 * now, block (without the event loop) until they are empty or `graceMs` passed, then SIGKILL
 * the survivors. It blocks only as long as something survives SIGTERM.
 */
export function terminateGroupsSync(pgids: readonly number[], graceMs: number): void {
  let alive = pgids.filter((pgid) => signalGroup(pgid, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  let delay = 1;
  while (alive.length > 0 && Date.now() < deadline) {
    sleepSync(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 20);
    alive = alive.filter(groupHasLiveMembers);
  }
  for (const pgid of alive) signalGroup(pgid, 'SIGKILL');
}

/** How long to keep watching after SIGKILL before giving up on an unkillable process. */
const AFTER_KILL_WAIT_MS = 1000;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the calling thread; Atomics.wait is allowed on the main thread in Node. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface ProcStat {
  state: string;
  pgrp: number;
  session: number;
}

/** Parse /proc/<pid>/stat; comm may contain spaces and parentheses, so split after the last ')'. */
function readProcStat(pid: number | string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const session = Number(fields[3]);
  if (state === undefined || !Number.isInteger(pgrp) || !Number.isInteger(session)) return null;
  return { state, pgrp, session };
}

/**
 * The sessions of the live processes, other than this one, that hold the file `held` open
 * (compared by device and inode, so an unlinked file is found too); empty without /proc.
 *
 * For a command whose pid never reached uet (its fork server was SIGKILLed between starting it
 * and saying so): it is found by the unlinked output file only its own tree inherited. Every
 * process's every descriptor is looked at, so this is for that rare path only.
 */
export function sessionsHoldingFile(held: { readonly dev: number; readonly ino: number }): number[] {
  const sessions = new Set<number>();
  for (const name of procPids() ?? []) {
    if (Number(name) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    const holds = fds.some((fd) => {
      try {
        const st = statSync(`/proc/${name}/fd/${fd}`);
        return st.ino === held.ino && st.dev === held.dev;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    const stat = readProcStat(name);
    if (stat !== null && runs(stat.state) && stat.session > 1) sessions.add(stat.session);
  }
  return [...sessions];
}

/** States of the members of `pgid`, or null when /proc is not available (not Linux). */
function procGroupStates(pgid: number): string[] | null {
  const pids = procPids();
  if (pids === null) return null;
  const states: string[] = [];
  for (const name of pids) {
    const stat = readProcStat(name);
    if (stat !== null && stat.pgrp === pgid) states.push(stat.state);
  }
  return states;
}

/** The names of /proc's process folders (the pids), or null when there is no /proc (not Linux). */
function procPids(): string[] | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  return entries.filter((name) => name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57);
}

/** whether a process in this /proc state runs anything: a zombie (Z) or a dead one (X) does not */
function runs(state: string): boolean {
  return state !== 'Z' && state !== 'X';
}
