/**
 * The compact build graph and its round trip through the compiled-graph cache's layout: the
 * restored project must walk exactly like the compiled one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileProject } from '../lib/graph/compile.js';
import { rowsBytes, rowsFromBytes } from '../lib/graph/graph-cache.js';
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

test('rows as bytes: read back as written, in any buffer; refused for another node count, cut short, or in the other byte order', () => {
  const keys = ['a', 'b', 'c'];
  const g = TaskGraph.fromLayout({ keys, edges: [0, 2, 0, 1, 2, 3, 0, 1, 1] }, ['A', 'B', 'C'])!;
  const bytes = rowsBytes(g.toRows());
  const same = (r: ReturnType<typeof rowsFromBytes>) => r && [r.ins, r.outs].map((x) => [[...x.start], [...x.list], [...x.why]]);
  assert.equal(same(rowsFromBytes(bytes, 3)), same(g.toRows()));
  // at an odd offset in a larger buffer (copied to be read)
  const odd = Buffer.concat([Buffer.from([9]), bytes]).subarray(1);
  assert.is(odd.byteOffset % 4, 1);
  assert.equal(same(rowsFromBytes(odd, 3)), same(g.toRows()));
  const back = TaskGraph.fromRowsLazily(keys, rowsFromBytes(bytes, 3)!, (k) => k.toUpperCase())!;
  assert.equal(keys.map((k) => [back.inNeighbors(k), back.outNeighbors(k), back.inEdges(k), back.getNodeAttributes(k)]), keys.map((k) => [g.inNeighbors(k), g.outNeighbors(k), g.inEdges(k), k.toUpperCase()]));
  assert.is(rowsFromBytes(bytes, 4), undefined, 'another node count');
  assert.is(rowsFromBytes(bytes.subarray(0, bytes.length - 1), 3), undefined, 'cut short');
  assert.is(rowsFromBytes(Buffer.concat([bytes, Buffer.from([0])]), 3), undefined, 'a byte too many');
  const swapped = Buffer.from(bytes);
  swapped.subarray(0, 12).swap32();
  assert.is(rowsFromBytes(swapped, 3), undefined, 'the other byte order');
  assert.is(rowsFromBytes(Buffer.alloc(0), 3), undefined);
  // rows of another shape are refused by the graph
  const rows = rowsFromBytes(bytes, 3)!;
  assert.is(TaskGraph.fromRowsLazily(['a', 'b'], rows, (k) => k), undefined, 'offsets for another node count');
  assert.is(TaskGraph.fromRowsLazily(keys, { ins: rows.ins, outs: { ...rows.outs, list: rows.outs.list.subarray(1) } }, (k) => k), undefined, 'a list that does not end where the offsets do');
  assert.is(TaskGraph.fromRowsLazily(keys, { ins: rows.ins, outs: { ...rows.outs, why: rows.outs.why.subarray(1) } }, (k) => k), undefined, 'a reason missing');
});

test('restoreCompiled: the cached keys and rows give back the same graph; those of another spec are refused', async () => {
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
    // as the cache keeps them: the keys as JSON, the rows as bytes
    const keys = JSON.parse(JSON.stringify(compiled.value.graph.keys)) as string[];
    const rows = rowsFromBytes(Buffer.from(rowsBytes(compiled.value.graph.toRows()).toString('base64'), 'base64'), keys.length)!;
    assert.ok(rows);
    const counts = (spec: ProjectSpec) => new Map(spec.phases.flatMap((p) => p.workstreams.map((w) => [w.fullId, w.tasks.length] as const)));
    const restored = restoreCompiled(JSON.parse(JSON.stringify(loaded.value.spec)), keys, rows, counts(loaded.value.spec));
    assert.ok(restored);
    assert.equal(walk(restored), walk(compiled.value));
    assert.ok(walk(compiled.value).some((l) => l.startsWith('t:p/w/s <- t:p/w/e(order)')), 'implicit order edges survive');
    assert.ok(walk(compiled.value).some((l) => /^g:p\/GATE_LINT <- t:p\/w\/s\(gate-member\)/.test(l)), 'gate members survive');

    const fewer = { ...loaded.value.spec, phases: loaded.value.spec.phases.slice(0, 1) };
    assert.is(restoreCompiled(fewer, keys, rows, counts(fewer)), undefined, 'a graph with nodes the spec lacks');
    const miscounted = new Map([...counts(loaded.value.spec)].map(([ws, n], i) => [ws, i === 0 ? n + 1 : n]));
    assert.is(restoreCompiled(loaded.value.spec, keys, rows, miscounted), undefined, 'a workstream holding more tasks than the graph names');

    // nodes are made when read, once; a node the spec lacks fails then, saying what to do
    assert.is(restored.graph.getNodeAttributes('t:p/w/s'), restored.graph.getNodeAttributes('t:p/w/s'));
    const renamed = keys.map((k) => (k === 't:p/w/s' ? 't:p/nowhere/s' : k));
    const damaged = restoreCompiled(loaded.value.spec, renamed, rows, counts(loaded.value.spec));
    assert.ok(damaged);
    assert.throws(() => damaged.graph.getNodeAttributes('t:p/nowhere/s'), /delete \.uet\/graph\.json and build again/);
  });
});

test.run();
