/**
 * The build's heap (lib/cli/heap-tuning.ts, TaskHeap): one collection, when the tasks start
 * after a compile or once COMPACT_AFTER tasks did work; a young generation that stops doubling
 * at its cap; and the real collector really collecting.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import type { TaskStatus } from '../lib/events/types.js';
import { COMPACT_AFTER, LOAD_COLLECT_ABOVE, TASKS_COLLECT_ABOVE, TaskHeap, YOUNG_GENERATION_CAP, type HeapControl } from '../lib/cli/heap-tuning.js';

function taskEnd(status: TaskStatus, n: number) {
  return { type: 'task-end', runId: 'r', at: 0, task: `p/w/t${n}`, status, durationMs: 1 } as const;
}

/** a heap that records what was asked of it; its young generation is `young` bytes, `used` bytes in use */
function fakeHeap(young = 0): HeapControl & { collections: number; limited: number[]; grows: boolean[]; young: number; used: number } {
  return {
    collections: 0,
    limited: [],
    grows: [],
    young,
    used: 0,
    collect() {
      this.collections++;
    },
    limitGrowth() {
      // when, counted in collections so far: the limit must be set before the collection it is for
      this.limited.push(this.collections);
    },
    usedHeapSize() {
      return this.used;
    },
    youngGenerationSize() {
      return this.young;
    },
    youngGenerationGrows(grows: boolean) {
      this.grows.push(grows);
    },
  };
}

test('after the graph cache: the COMPACT_AFTER-th task that ran, was restored or failed collects, once', () => {
  const heap = fakeHeap();
  const th = new TaskHeap(heap);
  th.tasksStarting({ compiled: false });
  assert.is(heap.collections, 0, 'not when the tasks start');
  const worked: TaskStatus[] = ['ran', 'restored', 'failed'];
  for (let n = 1; n < COMPACT_AFTER; n++) th.observe(taskEnd(worked[n % 3]!, n));
  assert.is(heap.collections, 0, 'not before');
  th.observe(taskEnd('ran', COMPACT_AFTER));
  assert.is(heap.collections, 1, 'at the COMPACT_AFTER-th');
  assert.equal(heap.limited, [0], 'its growth limit set just before it');
  for (let n = 0; n < 3 * COMPACT_AFTER; n++) th.observe(taskEnd('ran', n));
  assert.is(heap.collections, 1, 'never again');
});

test('after a compile: collects when the tasks start, and not again', () => {
  const heap = fakeHeap();
  const th = new TaskHeap(heap);
  th.tasksStarting({ compiled: true });
  assert.is(heap.collections, 1);
  for (let n = 0; n < 2 * COMPACT_AFTER; n++) th.observe(taskEnd('ran', n));
  assert.is(heap.collections, 1);
});

test('a load that says it left garbage is collected only past LOAD_COLLECT_ABOVE, and without the growth limit', () => {
  const heap = fakeHeap();
  const th = new TaskHeap(heap);
  heap.used = LOAD_COLLECT_ABOVE - 1;
  th.loadGarbage();
  assert.is(heap.collections, 0, 'a small heap is left alone');
  heap.used = LOAD_COLLECT_ABOVE;
  th.loadGarbage();
  th.loadGarbage();
  assert.is(heap.collections, 2, 'each time it is told, once large');
  assert.equal(heap.limited, [], 'V8 keeps its own limits while loading');
  th.tasksStarting({ compiled: true });
  assert.is(heap.collections, 3, 'the tasks-start collection still comes');
  assert.equal(heap.limited, [2]);
});

test('any tasks collect, once, when the heap in use passes TASKS_COLLECT_ABOVE', () => {
  const heap = fakeHeap();
  const th = new TaskHeap(heap);
  th.tasksStarting({ compiled: false });
  heap.used = TASKS_COLLECT_ABOVE - 1;
  for (let n = 0; n < 200; n++) th.observe(taskEnd('fresh', n));
  assert.is(heap.collections, 0, 'below it');
  heap.used = TASKS_COLLECT_ABOVE;
  for (let n = 0; n < 200; n++) th.observe(taskEnd('fresh', n));
  assert.is(heap.collections, 1, 'past it, fresh tasks and all');
  assert.equal(heap.limited, [0]);
  for (let n = 0; n < 2 * COMPACT_AFTER; n++) th.observe(taskEnd('ran', n));
  assert.is(heap.collections, 1, 'never again');
});

test('fresh, blocked and skipped tasks and other events do not count toward COMPACT_AFTER', () => {
  const heap = fakeHeap();
  const th = new TaskHeap(heap);
  th.tasksStarting({ compiled: false });
  for (let n = 0; n < 2 * COMPACT_AFTER; n++) {
    th.observe(taskEnd('fresh', n));
    th.observe(taskEnd('blocked', n));
    th.observe(taskEnd('skipped', n));
    th.observe({ type: 'task-start', runId: 'r', at: 0, task: `p/w/t${n}`, reason: 'no record' });
  }
  assert.is(heap.collections, 0);
});

test('the young generation may grow when tasks start, and is held once it reaches its cap', () => {
  const heap = fakeHeap(YOUNG_GENERATION_CAP / 4);
  const th = new TaskHeap(heap);
  th.tasksStarting({ compiled: false });
  assert.equal(heap.grows, [true]);
  for (let n = 0; n < 100; n++) th.observe(taskEnd('ran', n));
  assert.equal(heap.grows, [true], 'under the cap: left alone');
  heap.young = YOUNG_GENERATION_CAP;
  for (let n = 0; n < 100; n++) th.observe(taskEnd('ran', n));
  assert.ok(heap.grows.length > 1 && heap.grows.slice(1).every((g) => !g), `held at the cap: ${heap.grows.join(',')}`);
});

test('the real collector makes V8 run a full collection', async () => {
  const majors: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as unknown as { detail?: { kind?: number }; startTime: number }[]) {
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e.startTime);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const before = performance.now();
  new TaskHeap().tasksStarting({ compiled: true });
  await new Promise((resolve) => setTimeout(resolve, 50)); // gc entries are delivered later
  observer.disconnect();
  assert.ok(majors.some((t) => t >= before), `a major collection after ${before.toFixed(0)} ms (saw ${majors.length})`);
});

test.run();
