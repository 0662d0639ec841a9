/**
 * V8 flags set from a running script, and the one full collection a script may ask for. Flags
 * are the process's, not the calling thread's: they reach every isolate, workers included.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** false when this V8 does not know the flag */
export function setV8Flag(flag: string): boolean {
  try {
    v8.setFlagsFromString(flag);
    return true;
  } catch {
    return false;
  }
}

/** a full, blocking collection of the calling thread's heap */
export function collectGarbage(): void {
  if (!setV8Flag('--expose-gc')) return;
  // the flag exposes `gc` to contexts created from now on, not to this one
  const gc: unknown = vm.runInNewContext('gc');
  if (typeof gc === 'function') gc();
}
