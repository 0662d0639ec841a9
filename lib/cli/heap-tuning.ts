/**
 * V8's young generation while a build loads its state, and after.
 *
 * By default V8 doubles the young generation (up to 16 MB a semi-space, three of them
 * committed) whenever much of it survives a scavenge. Loading a large project does exactly that
 * (parsing the compiled-graph cache, the stat index and the freshness log: everything survives),
 * and the memory stays committed for the rest of the run. So bin/uet.js imports this module
 * before the rest of uet (once the no-op fast path, which allocates little, did not answer),
 * which keeps the young generation at its starting size, and the build (or the watch session)
 * lets it grow again once its tasks start, where a larger young generation saves time (tasks'
 * state dies young).
 *
 * Measured A/B on the 10,000-task bench tree (`/usr/bin/time`, 8 runs each, alternating): the
 * touch build's peak RSS 144–146 → 132–140 MB, its time 0.57 → 0.59 s (median); a cold 2,000
 * build unchanged (7.7–8.3 s, 171–196 MB either way). Keeping the young generation small for
 * the whole build also took a cold 2,000 build from 173 to 155 MB, but cost it ~0.4 ms of CPU
 * a task. `--semi-space-growth-factor` is read each time V8 would grow the young generation, so
 * setting it at run time takes effect from the next growth.
 */
import v8 from 'node:v8';

function growthFactor(factor: 1 | 2): void {
  try {
    v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  } catch {
    // only memory is at stake
  }
}

/** the young generation stays at its size (what importing this module does) */
export function holdYoungGeneration(): void {
  growthFactor(1);
}

/** V8's default again: the young generation may double */
export function releaseYoungGeneration(): void {
  growthFactor(2);
}

holdYoungGeneration();
