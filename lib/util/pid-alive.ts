import { errnoCode } from './errno.js';

/** Whether a process with this pid exists (EPERM: it does, under another user). No packages: the no-op fast path loads it. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}
