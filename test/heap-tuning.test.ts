/**
 * The build's heap (lib/cli/heap-tuning.ts, TaskHeap): one collection, when the tasks start
 * after a compile or once COMPACT_AFTER tasks did work; a young generation that stops doubling
 * at its cap; and the real collector really collecting.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import type { TaskStatus } from '../lib/events/types.js';
import { COMPACT_AFTER, TaskHeap, YOUNG_GENERATION_CAP, type HeapControl } from '../lib/cli/heap-tuning.js';

function taskEnd(status: TaskStatus, n: number) {
  return { type: 'task-end', runId: 'r', at: 0, task: `p/w/t${n}`, status, durationMs: 1 } as const;
}

/** a heap that records what was asked of it; its young generation is `young` bytes */
function fakeHeap(young = 0): HeapControl & { collections: number; grows: boolean[]; young: number } {
  return {
    collections: 0,
    grows: [],
    young,
    collect() {
      this.collections++;
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

test('fresh, blocked and skipped tasks and other events do not count', () => {
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
