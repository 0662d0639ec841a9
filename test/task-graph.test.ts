/**
 * The compact build graph and its round trip through the compiled-graph cache's layout: the
 * restored project must walk exactly like the compiled one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileProject } from '../lib/graph/compile.js';
import { restoreCompiled } from '../lib/graph/project.js';
import type { CompiledProject } from '../lib/graph/project.js';
import { TaskGraph } from '../lib/graph/task-graph.js';
import { loadProject } from '../lib/spec/load.js';
import type { ProjectSpec } from '../lib/spec/model.js';
import { withProject } from './helpers/project.js';

test('TaskGraph: neighbours both ways in the order the edges were given, with why', () => {
  // a → c, b → c, a → b (keys in topological order: a, b, c)
  const g = TaskGraph.fromLayout({ keys: ['a', 'b', 'c'], edges: [0, 2, 0, 1, 2, 3, 0, 1, 1] }, ['A', 'B', 'C']);
  assert.ok(g);
  assert.is(g.order, 3);
  assert.equal(g.nodes(), ['a', 'b', 'c']);
  assert.equal(g.inNeighbors('c'), ['a', 'b']);
  assert.equal(g.outNeighbors('a'), ['c', 'b']);
  assert.equal(g.inNeighbors('a'), []);
  assert.equal(g.inEdges('c'), [
    ['a', 'depends_on'],
    ['b', 'barrier'],
  ]);
  assert.is(g.getNodeAttributes('b'), 'B');
  assert.ok(g.hasNode('a'));
  assert.not.ok(g.hasNode('d'));
  assert.throws(() => g.inNeighbors('d'), /no node d/);
});

/** planClosure as it was written over inNeighbors: the order dependencyClosure must keep */
function closureByNeighbours(g: TaskGraph<string>, keys: readonly string[]): string[] {
  const closure = new Set<string>();
  const stack = [...keys];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (closure.has(n)) continue;
    closure.add(n);
    for (const dep of g.inNeighbors(n)) if (!closure.has(dep)) stack.push(dep);
  }
  return [...closure];
}

test('TaskGraph.dependencyClosure: the keys and all they depend on, in the order a walk over inNeighbors meets them', () => {
  // a diamond under e (b and c both on a), d on nothing, f on e and d
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  const edge = (from: string, to: string) => [keys.indexOf(from), keys.indexOf(to), 0];
  const g = TaskGraph.fromLayout({ keys, edges: [...edge('a', 'b'), ...edge('a', 'c'), ...edge('b', 'e'), ...edge('c', 'e'), ...edge('e', 'f'), ...edge('d', 'f')] }, keys.map((k) => k.toUpperCase()));
  assert.ok(g);
  for (const start of [['f'], ['e'], ['a'], ['d', 'b'], ['b', 'd', 'b'], [], keys]) {
    assert.equal([...g.dependencyClosure(start)], closureByNeighbours(g, start), `from ${start.join(',')}`);
  }
  assert.equal([...g.dependencyClosure(['f'])].sort(), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.equal([...g.dependencyClosure(['c'])], ['c', 'a']);
  assert.throws(() => g.dependencyClosure(['x']), /no node x/);
});

test('TaskGraph.fromLayout: refuses edges to unknown nodes or reasons, and attributes that do not fit', () => {
  assert.is(TaskGraph.fromLayout({ keys: ['a'], edges: [0, 1, 0] }, ['A']), undefined);
  assert.is(TaskGraph.fromLayout({ keys: ['a', 'b'], edges: [0, 1, 9] }, ['A', 'B']), undefined);
  assert.is(TaskGraph.fromLayout({ keys: ['a', 'b'], edges: [0, 1] }, ['A', 'B']), undefined);
  assert.is(TaskGraph.fromLayout({ keys: ['a', 'b'], edges: [] }, ['A']), undefined);
  assert.is(TaskGraph.fromLayout({ keys: ['a', 'b'], edges: [-1, 1, 0] }, ['A', 'B']), undefined);
});

function walk(p: CompiledProject): string[] {
  return p.order.map((k) => `${k} <- ${p.graph.inEdges(k).map(([d, why]) => `${d}(${why})`).join(' ')} -> ${p.graph.outNeighbors(k).join(' ')} :: ${p.graph.getNodeAttributes(k).kind}`);
}

test('restoreCompiled: the cached layout gives back the same graph; a layout of another spec is refused', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - { id: e, kind: edit, run: "true" }
      - { id: s, kind: static, run: "true", inputs: [a.txt] }
      - { id: r, kind: runtime, run: "true", inputs: [a.txt] }
  - id: v
    depends_on: [w]
    tasks:
      - { id: b, kind: build, run: "true", inputs: [b.txt] }
gates:
  - { id: GATE_LINT, type: lint, needs: ["w/s"] }
`,
    'phases/q.yaml': `id: q
depends_on: [p]
workstreams:
  - id: x
    tasks:
      - { id: t, kind: build, run: "true", inputs: [c.txt], depends_on: [p/v/b] }
`,
  }, async (dir) => {
    const loaded = await loadProject(dir);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
    const compiled = compileProject(loaded.value.spec);
    if (!compiled.ok) throw new Error(JSON.stringify(compiled.error));
    const layout = JSON.parse(JSON.stringify(compiled.value.graph.toLayout()));
    const counts = (spec: ProjectSpec) => new Map(spec.phases.flatMap((p) => p.workstreams.map((w) => [w.fullId, w.tasks.length] as const)));
    const restored = restoreCompiled(JSON.parse(JSON.stringify(loaded.value.spec)), layout, counts(loaded.value.spec));
    assert.ok(restored);
    assert.equal(walk(restored), walk(compiled.value));
    assert.ok(walk(compiled.value).some((l) => l.startsWith('t:p/w/s <- t:p/w/e(order)')), 'implicit order edges survive');
    assert.ok(walk(compiled.value).some((l) => /^g:p\/GATE_LINT <- t:p\/w\/s\(gate-member\)/.test(l)), 'gate members survive');

    const fewer = { ...loaded.value.spec, phases: loaded.value.spec.phases.slice(0, 1) };
    assert.is(restoreCompiled(fewer, layout, counts(fewer)), undefined, 'a layout with nodes the spec lacks');
    const miscounted = new Map([...counts(loaded.value.spec)].map(([ws, n], i) => [ws, i === 0 ? n + 1 : n]));
    assert.is(restoreCompiled(loaded.value.spec, layout, miscounted), undefined, 'a workstream holding more tasks than the layout names');

    // nodes are made when read, once; a node the spec lacks fails then, saying what to do
    assert.is(restored.graph.getNodeAttributes('t:p/w/s'), restored.graph.getNodeAttributes('t:p/w/s'));
    const renamed = { ...layout, keys: layout.keys.map((k: string) => (k === 't:p/w/s' ? 't:p/nowhere/s' : k)) };
    const damaged = restoreCompiled(loaded.value.spec, renamed, counts(loaded.value.spec));
    assert.ok(damaged);
    assert.throws(() => damaged.graph.getNodeAttributes('t:p/nowhere/s'), /delete \.uet\/graph\.json and build again/);
  });
});

test.run();
