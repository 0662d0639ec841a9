/**
 * Debounce without loss: every path reported in a window is kept, and the whole set is handed
 * over once no new change arrived for `quietMs` (or, under a steady stream of changes, at the
 * latest `maxWaitMs` after the first one, so a busy tree still gets built).
 *
 *   empty ──add──▶ collecting ──quiet for quietMs, or maxWaitMs since the first──▶ flush(all) ──▶ empty
 *                     └──add──▶ collecting (timer restarted, path kept)
 */
import type { Clock } from './clock.js';

export interface ChangeBatcher {
  add(path: string): void;
  /** drop the pending timer (the session is closing); pending paths are discarded */
  close(): void;
}

export function createBatcher(quietMs: number, flush: (paths: Set<string>) => void, clock: Clock): ChangeBatcher {
  const maxWaitMs = Math.max(1000, quietMs * 20);
  let pending = new Set<string>();
  let firstAt = 0;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const fire = (): void => {
    timer = undefined;
    const batch = pending;
    pending = new Set();
    flush(batch);
  };
  return {
    add(p) {
      if (pending.size === 0) firstAt = clock.now();
      pending.add(p);
      if (timer !== undefined) clock.clearTimeout(timer);
      const waited = clock.now() - firstAt;
      timer = clock.setTimeout(fire, Math.max(0, Math.min(quietMs, maxWaitMs - waited)));
    },
    close() {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      pending = new Set();
    },
  };
}
