/**
 * The one-writer-per-project lock: `<uetDir>/lock`, created with O_EXCL, holding the holder's
 * pid, hostname, start time and command line.
 *
 * Why not proper-lockfile: it detects a dead holder only by mtime staleness (seconds later,
 * and only if the holder stopped refreshing it) and records no pid, but we must say "waiting
 * for pid N (uet build …)" and take over at once from a holder killed with -9.
 *
 * Acquisition, per attempt:
 *
 *   create lock O_EXCL ──ok──► HELD
 *        │ EEXIST
 *        ▼
 *   read holder ──file vanished──► retry now
 *        │
 *        ├─ live holder (or another host) ──► onWait(holder) once; sleep pollMs; retry
 *        ├─ garbage/empty, younger than 2 s ──► sleep pollMs; retry (a holder mid-write)
 *        └─ dead holder / old garbage ──► take over: under the takeover mutex, re-check that the
 *                                          file is unchanged and remove it; retry now
 *
 * The takeover mutex (`lock.takeover`, also O_EXCL) is what keeps two waiters that both saw
 * the same stale holder from both winning: without it, the second could delete the lock the
 * first had just created. Only its holder deletes a lock it did not create, and it does so only
 * after re-reading the file under the mutex. The mutex is held for microseconds, so one older
 * than a few seconds (or whose pid is dead) is abandoned and removed in turn.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pidAlive } from '../util/pid-alive.js';
import { errnoCode } from '../util/errno.js';
import { err, ok, type Result } from '../util/result.js';

export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  /** ms since epoch, when the lock was taken */
  readonly startedAt: number;
  readonly command: string;
}

export interface ProjectLock {
  /** synchronous so it can run in an exit handler; removes the file only if it is still ours */
  release(): void;
}

export interface AcquireLockOptions {
  /** called once, with the holder, when we have to wait */
  onWait?: (holder: LockHolder) => void;
  /** default 100 ms */
  pollMs?: number;
  signal?: AbortSignal;
}

/** An empty or unparsable lock file younger than this may be a holder between create and write. */
const GARBAGE_GRACE_MS = 2000;
/** The takeover mutex is held for microseconds; older than this, its holder is gone. */
const MUTEX_STALE_MS = 5000;
/** Clock ticks per second in /proc/<pid>/stat (USER_HZ): 100 on every mainstream Linux. */
const USER_HZ = 100;

/** Lock files held by this process, so acquiring twice is reported instead of deadlocking. */
const heldHere = new Set<string>();

export async function acquireProjectLock(
  uetDir: string,
  opts: AcquireLockOptions = {},
): Promise<Result<ProjectLock, string>> {
  const path = resolve(uetDir, 'lock');
  const pollMs = opts.pollMs ?? 100;
  try {
    mkdirSync(uetDir, { recursive: true });
  } catch (e) {
    return err(`cannot create ${uetDir}: ${message(e)}`);
  }
  if (heldHere.has(path)) return err(`${path} is already held by this process`);

  const me: LockHolder = {
    pid: process.pid,
    hostname: osHostname(),
    startedAt: Date.now(),
    command: describeCommand(),
  };
  const content = JSON.stringify(me);
  let waitReported = false;

  for (;;) {
    if (opts.signal?.aborted) return err(`gave up waiting for ${path}`);
    const created = createExclusive(path, content);
    if (created === 'created') {
      heldHere.add(path);
      return ok({ release: () => releaseIfOurs(path, content) });
    }
    if (created !== 'exists') return err(`cannot create ${path}: ${created.error}`);

    const seen = readLockFile(path);
    if (seen === null) continue; // released between our create and our read
    const verdict = judge(seen);
    if (verdict === 'stale') {
      // 'busy': another process is mid-takeover; give it a moment instead of spinning
      if (takeOver(path, seen) === 'busy' && !(await sleep(Math.min(pollMs, 20), opts.signal))) {
        return err(`gave up waiting for ${path}`);
      }
      continue;
    }
    if (verdict !== 'fresh-garbage' && !waitReported) {
      waitReported = true;
      opts.onWait?.(verdict);
    }
    if (!(await sleep(pollMs, opts.signal))) {
      return err(
        verdict === 'fresh-garbage'
          ? `gave up waiting for ${path}`
          : `gave up waiting for ${path}, held by pid ${verdict.pid} on ${verdict.hostname} (${verdict.command})`,
      );
    }
  }
}

/** The current holder, or null when the project is not locked (or the file is unreadable). */
export function readLockHolder(uetDir: string): LockHolder | null {
  const seen = readLockFile(join(uetDir, 'lock'));
  return seen === null ? null : parseHolder(seen.text);
}

/** True when `holder` is a process on this machine that is still running. */
export function holderIsAlive(holder: LockHolder): boolean {
  if (holder.hostname !== osHostname()) return true; // cannot tell: assume alive
  if (holder.pid === process.pid) return true;
  return pidAlive(holder.pid) && !pidReusedSince(holder.pid, holder.startedAt);
}

interface SeenFile {
  readonly text: string;
  readonly mtimeMs: number;
  readonly ino: number;
}

type Verdict = LockHolder | 'stale' | 'fresh-garbage';

function judge(seen: SeenFile): Verdict {
  const holder = parseHolder(seen.text);
  if (holder === null) return Date.now() - seen.mtimeMs > GARBAGE_GRACE_MS ? 'stale' : 'fresh-garbage';
  if (holder.hostname !== osHostname()) return holder; // its pid means nothing here: wait
  // our own pid but not held by us: a previous process that had our pid (common in containers)
  if (holder.pid === process.pid) return 'stale';
  if (!pidAlive(holder.pid) || pidReusedSince(holder.pid, holder.startedAt)) return 'stale';
  return holder;
}

/** Remove the stale lock `seen`, if it is still there. 'busy': someone else holds the mutex. */
function takeOver(path: string, seen: SeenFile): 'done' | 'busy' {
  const mutex = `${path}.takeover`;
  const mine = JSON.stringify({ pid: process.pid, hostname: osHostname(), startedAt: Date.now(), command: 'takeover' });
  const created = createExclusive(mutex, mine);
  if (created !== 'created') {
    // someone else is taking over, or a takeover died half-way: clear that, the caller retries
    return created === 'exists' && clearAbandonedMutex(mutex) ? 'done' : 'busy';
  }
  try {
    // under the mutex nobody else deletes the lock, and its dead holder cannot change it, so
    // if it is still the file we judged stale it is safe to remove
    const now = readLockFile(path);
    if (now !== null && sameFile(now, seen)) unlinkQuietly(path);
  } finally {
    releaseIfOurs(mutex, mine);
  }
  return 'done';
}

/** True if the mutex is gone now (it was abandoned, or released meanwhile). */
function clearAbandonedMutex(mutex: string): boolean {
  const seen = readLockFile(mutex);
  if (seen === null) return true;
  const holder = parseHolder(seen.text);
  // takeOver() is synchronous, so a mutex naming our own pid is a predecessor's leftover
  const abandoned =
    Date.now() - seen.mtimeMs > MUTEX_STALE_MS ||
    (holder !== null && holder.hostname === osHostname() && (holder.pid === process.pid || !pidAlive(holder.pid)));
  if (!abandoned) return false;
  removeIfUnchanged(mutex, seen);
  return true;
}

/**
 * Remove `path` only if it is still `seen`, without a check-then-delete race: move it aside to
 * a unique name (atomic), look at what we moved, and put it back if it was not what we meant.
 */
function removeIfUnchanged(path: string, seen: SeenFile): void {
  const aside = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already
  }
  const moved = readLockFile(aside);
  if (moved !== null && !sameFile(moved, seen)) {
    try {
      linkSync(aside, path); // fails if someone created a new one meanwhile: theirs stands
    } catch {
      // nothing better to do: the new file wins
    }
  }
  unlinkQuietly(aside);
}

function sameFile(a: SeenFile, b: SeenFile): boolean {
  return a.text === b.text && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

type CreateResult = 'created' | 'exists' | { error: string };

function createExclusive(path: string, content: string): CreateResult {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    return errnoCode(e) === 'EEXIST' ? 'exists' : { error: message(e) };
  }
  try {
    writeSync(fd, content);
  } catch (e) {
    closeSync(fd);
    unlinkQuietly(path);
    return { error: message(e) };
  }
  closeSync(fd);
  return 'created';
}

function releaseIfOurs(path: string, content: string): void {
  heldHere.delete(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // already gone (someone judged us dead?) — nothing of ours to remove
  }
  if (text === content) unlinkQuietly(path);
}

function readLockFile(path: string): SeenFile | null {
  try {
    // stat before read: if the file is replaced in between, text and stat disagree and a later
    // sameFile() comparison fails safe (no removal)
    const st = statSync(path);
    const text = readFileSync(path, 'utf8');
    return { text, mtimeMs: st.mtimeMs, ino: st.ino };
  } catch {
    return null;
  }
}

function parseHolder(text: string): LockHolder | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0) return null;
  if (typeof r.hostname !== 'string' || typeof r.startedAt !== 'number') return null;
  return { pid: r.pid, hostname: r.hostname, startedAt: r.startedAt, command: typeof r.command === 'string' ? r.command : '' };
}

/**
 * Pids are reused, and in containers a restarted build often gets the very pid its killed
 * predecessor had. On Linux, a process that started after the lock was taken cannot be its
 * holder. Elsewhere we cannot tell and trust the pid.
 */
function pidReusedSince(pid: number, lockedAt: number): boolean {
  const started = processStartTime(pid);
  // 2 s tolerance: boot time has 1 s resolution, and clocks get adjusted
  return started !== null && started > lockedAt + 2000;
}

let bootTimeMs: number | null | undefined;

function processStartTime(pid: number): number | null {
  if (bootTimeMs === undefined) {
    try {
      const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
      bootTimeMs = m?.[1] !== undefined ? Number(m[1]) * 1000 : null;
    } catch {
      bootTimeMs = null;
    }
  }
  if (bootTimeMs === null) return null;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const ticks = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(ticks) ? bootTimeMs + (ticks * 1000) / USER_HZ : null;
  } catch {
    return null;
  }
}

function describeCommand(): string {
  const script = process.argv[1];
  const args = process.argv.slice(2);
  return [script === undefined ? basename(process.execPath) : basename(script), ...args].join(' ');
}

/** Resolves false if aborted. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
