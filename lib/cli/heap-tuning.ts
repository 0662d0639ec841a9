/**
 * V8's heap while a build loads its state, and while its tasks run. Only memory is at stake
 * here, and the time collecting costs (which is why a watch session keeps V8's own limits: see
 * releaseYoungGeneration): nothing a build decides depends on it.
 *
 * Young generation while loading. By default V8 doubles it (up to 16 MB a semi-space) whenever
 * much of it survives a scavenge. Loading a large project does exactly that (parsing the
 * compiled-graph cache, the stat index and the freshness log: everything survives), and the
 * memory stays committed for the rest of the run. So before the rest of uet is loaded (once
 * the no-op fast path, which allocates little, did not answer), lib/cli/load-cli.ts calls
 * holdYoungGeneration, which keeps the young generation at its starting size (`--semi-space-growth-factor=1`, read
 * each time V8 would grow it). Creating a worker thread puts the factor back to V8's default of 2, so it
 * holds only until the pool starts: the loading, which is where it is meant to hold.
 *
 * Young generation while tasks run. Tasks' bookkeeping dies young, so a larger young generation
 * saves scavenges, but its full 16 MB semi-spaces cost ~22 MB of RSS: a cold build held at 4 MB
 * peaked at 118–119 MB against 139–141 MB (2,000 tasks, 4 runs each) and 174–176 MB against
 * 198–200 MB (10,000 tasks, 2 runs each), with no difference in time beyond run-to-run noise
 * (±10 %). Held at 2 MB semi-spaces rather than 4: 110–112 MB against 115–117 (2,000 tasks,
 * 4 runs each) and 142–145 against 149 (10,000 tasks, 2 runs each), again with no difference
 * in time. The build lets it double up to YOUNG_GENERATION_CAP and then holds it again,
 * checking every CHECK_EVERY tasks (a worker the pool replaced would have reset the factor).
 *
 * Old generation. V8 holds its first full collection until the old generation reaches a limit
 * of its own (~180 MB here), then sets the next limit at up to 4× what survived. A cold build of
 * 10,000 tasks has ~45 MB live, but its old generation filled with the compile's garbage (99 of
 * 111 MB when its tasks start) and with what each task's bookkeeping promoted, up to a peak RSS
 * of ~330 MB. So the build collects once: when its tasks start if it compiled the spec (~18 ms
 * against the compile's ~600), else once COMPACT_AFTER tasks have finished (a long build, ~1.5 s
 * of work at least) or the heap in use passes TASKS_COLLECT_ABOVE (thousands of fresh tasks
 * decided without a proof), which sets V8's limit from what is live; from then on each limit is
 * 20 % above what survived (`--heap-growing-percent`, read at each collection, and set just
 * before this one). Builds that load the compiled graph and run few tasks (a touch, a no-op, a
 * cache hit) never pay for a collection.
 *
 * Compiling. Parsing the YAML and compiling it leave most of what they allocated unreachable
 * (at 10,000 tasks, 108 MB in use when the tasks start, 26 MB live), before V8's first limit:
 * that was a cold build's peak. The load says where (loadGarbage), and a large heap is collected
 * there, with V8's own limits.
 */
import v8 from 'node:v8';
import type { RunEvent } from '../events/types.js';
import { collectGarbage, setV8Flag } from '../util/v8-flags.js';

/** tasks a build finishes (runs, restores or fails) before it sets V8's limit from what is live */
export const COMPACT_AFTER = 500;
/** old-generation headroom over what survived the last full collection */
const OLD_GENERATION_GROWTH_PERCENT = 20;
/** the young generation's size (both semi-spaces) past which it stops doubling */
export const YOUNG_GENERATION_CAP = 4 * 1024 * 1024;
const CHECK_EVERY = 32;
/** heap in use past which TaskHeap.loadGarbage collects */
export const LOAD_COLLECT_ABOVE = 32 * 1024 * 1024;
/** heap in use past which the tasks collect (once), whatever they were */
export const TASKS_COLLECT_ABOVE = 64 * 1024 * 1024;

/** whether the young generation may double (V8's default) or holds its size */
function youngGenerationGrows(grows: boolean): void {
  setV8Flag(`--semi-space-growth-factor=${grows ? 2 : 1}`);
}

/**
 * V8's default again: the young generation may double. What a `uet watch` session does when
 * its builds start, and all it does: TaskHeap's collection, its 20 % headroom and its capped
 * young generation made write → task start at 10,000 tasks slower (median 26.7 → 59.4 ms, p95
 * 119 → 265 ms over the same 12 edits; without them 32.5 and 79 ms), and a session that lives
 * for hours is not a build's peak to bound.
 */
export function releaseYoungGeneration(): void {
  youngGenerationGrows(true);
}

function youngGenerationSize(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** what TaskHeap does to the real heap (tests count calls instead) */
export interface HeapControl {
  /** a full collection */
  collect(): void;
  /** from the next collection on, V8's limit is OLD_GENERATION_GROWTH_PERCENT above what survives */
  limitGrowth(): void;
  usedHeapSize(): number;
  youngGenerationSize(): number;
  youngGenerationGrows(grows: boolean): void;
}

const V8_HEAP: HeapControl = {
  collect: collectGarbage,
  limitGrowth: () => setV8Flag(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`),
  usedHeapSize: () => v8.getHeapStatistics().used_heap_size,
  youngGenerationSize,
  youngGenerationGrows,
};

/**
 * V8's own limits, untouched: the heap of a build run by `uet serve`, a process that lives for
 * hours, like a watch session's (see releaseYoungGeneration).
 */
export const UNTUNED_HEAP: HeapControl = {
  collect: () => {},
  limitGrowth: () => {},
  usedHeapSize: () => 0,
  youngGenerationSize: () => 0,
  youngGenerationGrows: () => {},
};

/**
 * One build's heap: loading until `tasksStarting`, then tasks. It collects where a compiling
 * load says (loadGarbage), then once for the tasks (see above): toward COMPACT_AFTER count the
 * tasks that ran, were restored or failed (a fresh task allocates little, so a hinted no-op never
 * pays); the heap in use is checked every CHECK_EVERY task ends of any kind.
 */
export class TaskHeap {
  private finished = 0;
  /** task ends of any status */
  private ended = 0;
  private collected = false;

  constructor(private readonly heap: HeapControl = V8_HEAP) {}

  /** loading is done; `compiled`: the spec was compiled (not read from the graph cache) */
  tasksStarting(opts: { readonly compiled: boolean }): void {
    this.heap.youngGenerationGrows(true);
    if (opts.compiled) this.collectOnce();
  }

  observe(ev: RunEvent): void {
    if (ev.type !== 'task-end') return;
    this.ended++;
    if (ev.status === 'ran' || ev.status === 'restored' || ev.status === 'failed') {
      this.finished++;
      if (this.finished === COMPACT_AFTER) this.collectOnce();
    }
    if (this.ended % CHECK_EVERY !== 0) return;
    if (this.heap.youngGenerationSize() >= YOUNG_GENERATION_CAP) this.heap.youngGenerationGrows(false);
    // thousands of fresh tasks decided on the full path (no proof to narrow it) allocate
    // enough to matter too: 10,000 of them reached 86 MB in use, 206 MB of RSS
    if (!this.collected && this.heap.usedHeapSize() >= TASKS_COLLECT_ABOVE) this.collectOnce();
  }

  /**
   * The load says much of what it allocated just became unreachable (see LoadOptions.onGarbage
   * in lib/graph/graph-cache.ts). Only a heap in use past LOAD_COLLECT_ABOVE is collected: a
   * small project's load is over before it would matter.
   */
  loadGarbage(): void {
    if (this.heap.usedHeapSize() >= LOAD_COLLECT_ABOVE) this.heap.collect();
  }

  private collectOnce(): void {
    if (this.collected) return;
    this.collected = true;
    // set only here: a build that never collects (a touch) keeps V8's own limits, and setting
    // it when the tasks start cost such a build ~30 ms of marking (0.595 → 0.565 s at 10,000)
    this.heap.limitGrowth();
    this.heap.collect();
  }
}

/**
 * While loading (see above). Called by lib/cli/load-cli.ts before it loads the CLI's bundle, not
 * when this module is: the bundle holds this module too, and a V8 flag set while it loads
 * would differ from the flags its code cache was checked against (lib/cli/code-cache.ts).
 */
export function holdYoungGeneration(): void {
  youngGenerationGrows(false);
}
