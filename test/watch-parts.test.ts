/**
 * The pure parts of `uet watch`: which folders are watched, what a changed path means, the
 * lossless debounce, and the failure memory that stops self-triggering loops.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileProject } from '../lib/graph/compile.js';
import type { CompiledProject } from '../lib/graph/project.js';
import { planClosure } from '../lib/graph/targets.js';
import { loadProject } from '../lib/spec/load.js';
import { createBatcher } from '../lib/watch/batcher.js';
import type { Clock } from '../lib/watch/clock.js';
import { createFailureMemory } from '../lib/watch/failure-memory.js';
import { coverFolders, dependentsClosure, globFolder, watchScope } from '../lib/watch/scope.js';
import { makeProject, removeProject } from './helpers/project.js';

test('globFolder: the static folder of a glob and how deep below it matches go', () => {
  assert.equal(globFolder('src/**/*.ts'), { dir: 'src', depth: Infinity });
  assert.equal(globFolder('src/a.txt'), { dir: 'src', depth: 0 });
  assert.equal(globFolder('phases/*.yaml'), { dir: 'phases', depth: 0 });
  assert.equal(globFolder('lib/*/x.ts'), { dir: 'lib', depth: 1 });
  assert.equal(globFolder('*.txt'), { dir: '', depth: 0 });
  assert.equal(globFolder('uet.config.yaml'), { dir: '', depth: 0 });
});

test('coverFolders: one watcher per root folder; nested folders covered by a deep enough ancestor are dropped', () => {
  assert.equal(
    coverFolders([
      { dir: 'src', depth: Infinity },
      { dir: 'src/a', depth: 0 },
      { dir: '', depth: 0 },
      { dir: 'lib', depth: 0 },
      { dir: 'lib/x', depth: 0 },
      { dir: 'lib', depth: 1 },
    ]),
    [
      { dir: '', depth: 0 },
      { dir: 'lib', depth: 1 },
      { dir: 'src', depth: Infinity },
    ],
  );
  // a shallow root does not cover a folder two levels down
  assert.equal(coverFolders([{ dir: '', depth: 0 }, { dir: 'a/b', depth: 0 }]).length, 2);
});

async function compiled(files: Record<string, string>): Promise<{ dir: string; project: CompiledProject }> {
  const dir = makeProject(files);
  const loaded = await loadProject(dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  const c = compileProject(loaded.value.spec);
  if (!c.ok) throw new Error(JSON.stringify(c.error));
  return { dir, project: c.value };
}

test('watchScope.classify: inputs and patches map to tasks; outputs, cache, .uet and ignored globs never count; spec files recompile', async () => {
  const { dir, project } = await compiled({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: a
        run: "true"
        inputs: ["src/**", "!src/skip/**"]
        outputs: [src/gen.txt]
      - id: b
        run: "true"
        patches: ["patches/*.diff"]
        inputs: []
        depends_on: [a]
      - id: c
        run: "true"
        inputs: ["lib/*.js"]
`,
  });
  try {
    const plan = planClosure(project, ['p:p']);
    const scope = watchScope(project, plan, { ignore: ['lib/vendor.js'] });
    const c = scope.classify(['src/x.ts', 'src/gen.txt', 'src/skip/y.ts', 'patches/1.diff', '.uet/fresh.log', 'cache/x', 'lib/vendor.js', 'README.md']);
    assert.equal([...c.tasks].sort(), ['t:p/w/a', 't:p/w/b']);
    assert.equal(c.relevant, ['patches/1.diff', 'src/x.ts']);
    assert.is(c.spec, false);
    assert.is(scope.classify(['phases/p.yaml']).spec, true);
    assert.is(scope.classify(['phases/p/extra.yaml']).spec, true, 'a workstream file of phase p');
    assert.is(scope.classify(['uet.config.yaml']).spec, true);
    assert.is(scope.isWatched('src/gen.txt'), false, 'a declared output is not watched');
    assert.is(scope.isIgnoredDir('node_modules/x'), true);
    assert.equal(dependentsClosure(project, plan, ['t:p/w/a']), new Set(['t:p/w/a', 't:p/w/b', 'p:p']));
  } finally {
    removeProject(dir);
  }
});

/** A clock whose timers fire only when the test says so. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let next = 0;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t.id !== handle);
    },
    advance(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

test('batcher: every path of the window in one flush, after the quiet time; a steady stream still flushes', () => {
  const clock = manualClock();
  const flushed: string[][] = [];
  const b = createBatcher(50, (paths) => flushed.push([...paths].sort()), clock);
  b.add('a');
  clock.advance(30);
  b.add('b');
  b.add('a');
  clock.advance(30);
  assert.equal(flushed, [], 'the timer restarts on each change');
  clock.advance(20);
  assert.equal(flushed, [['a', 'b']]);
  // a change every 40 ms never leaves 50 ms of quiet: flushed after at most maxWait (1 s)
  for (let i = 0; i < 30; i++) {
    b.add(`f${i}`);
    clock.advance(40);
  }
  assert.ok(flushed.length >= 2, 'flushed while the stream went on');
  clock.advance(50);
  const seen = flushed.slice(1).flat();
  assert.is(seen.length, 30, 'none dropped, none twice');
  assert.is(new Set(seen).size, 30);
  b.close();
});

test('failure memory: remembered per key; a task changing its own inputs twice in a row is held', () => {
  const m = createFailureMemory();
  m.failed('t', 'k1', 'exit code 1');
  assert.is(m.failedBefore('t', 'k1'), 'exit code 1');
  assert.is(m.failedBefore('t', 'k2'), undefined, 'other inputs: retried');
  // a formatter: changes its inputs once, then leaves them alone
  m.changedWhileRunning('fmt', 'a', 'b');
  assert.is(m.failedBefore('fmt', 'b'), undefined);
  // a task appending to its own input: the second run starts where the first left off
  m.changedWhileRunning('grow', 'k0', 'k1');
  m.changedWhileRunning('grow', 'k1', 'k2');
  assert.match(m.failedBefore('grow', 'k2') ?? '', /changes its own inputs/);
  // someone else edited the file in between: not a loop
  m.changedWhileRunning('edit', 'k0', 'k1');
  m.changedWhileRunning('edit', 'k5', 'k6');
  assert.is(m.failedBefore('edit', 'k6'), undefined);
  m.clear();
  assert.is(m.failedBefore('t', 'k1'), undefined);
});

test.run();
