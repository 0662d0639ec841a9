/**
 * Command-line targets (lib/graph/targets.ts): names asked for exactly resolve as the full list
 * of names would resolve them, without reading the tasks; globs and typos go through that list.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileProject } from '../lib/graph/compile.js';
import { countTasks, type CompiledProject } from '../lib/graph/project.js';
import { planClosure, planTaskCount, reachesEveryNode, resolveTargets, targetNames } from '../lib/graph/targets.js';
import { TaskGraph } from '../lib/graph/task-graph.js';
import { loadProject } from '../lib/spec/load.js';
import { withProject } from './helpers/project.js';

const FILES = {
  'uet.config.yaml': 'version: 1\n',
  'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - { id: a, kind: static, run: "true" }
      - { id: b, kind: build, run: "true" }
  - id: ww
    tasks:
      - { id: a, kind: build, run: "true" }
  - id: none
    tasks: []
gates:
  - { id: GATE_LINT, type: lint, needs: ["w/a"] }
`,
  'phases/q.yaml': 'id: q\ndepends_on: [p]\nworkstreams:\n  - id: w\n    tasks:\n      - { id: c, kind: build, run: "true" }\n',
};

/** the project in `dir`, loaded and compiled */
async function compiledIn(dir: string): Promise<CompiledProject> {
  const loaded = await loadProject(dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  const compiled = compileProject(loaded.value.spec);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.error));
  return compiled.value;
}

test('exact names resolve as the list of every name resolves them; globs and typos still work', () =>
  withProject(FILES, async (dir) => {
    const project = await compiledIn(dir);
    const names = targetNames(project);
    const listed = (targets: string[]): string[] => [...new Set(targets.flatMap((t) => names.get(t.replace(/\/+$/, '')) ?? []))].sort();
    for (const targets of [['p'], ['p/w'], ['p/w/'], ['p/ww'], ['p/none'], ['p/w/a'], ['p/GATE_LINT'], ['q', 'p/w/b'], ['q/w/c', 'q/w']]) {
      const r = resolveTargets(project, targets);
      assert.ok(r.ok, targets.join(' '));
      assert.equal(r.value, listed(targets), targets.join(' '));
    }
    const ws = resolveTargets(project, ['p/w']);
    assert.equal(ws.ok && ws.value, ['t:p/w/a', 't:p/w/b'], 'a workstream is its own tasks, not those of p/ww');
    const glob = resolveTargets(project, ['p/w*/a']);
    assert.equal(glob.ok && glob.value, ['t:p/w/a', 't:p/ww/a']);
    const typo = resolveTargets(project, ['p/w/bb']);
    assert.ok(!typo.ok && /did you mean 'p\/w\/b'/.test(typo.error[0]!.message));
  }));

test('a build without targets plans every node: everyNode stands for that closure, counted without a walk', () =>
  withProject(FILES, async (dir) => {
    const project = await compiledIn(dir);
    const all = resolveTargets(project, []);
    assert.ok(all.ok);
    assert.ok(reachesEveryNode(project, all.value));
    const closure = planClosure(project, all.value);
    const every = project.graph.everyNode();
    assert.ok(TaskGraph.isEveryNode(every) && !TaskGraph.isEveryNode(closure));
    assert.is(every.size, closure.size);
    assert.equal([...every].sort(), [...closure].sort(), 'the closure of every phase is every node');
    assert.equal([...every], project.graph.nodes(), 'in topological order');
    for (const k of closure) assert.ok(every.has(k), k);
    assert.not.ok(every.has('t:p/w/zz'));
    assert.equal([...every.entries()].map(([a, b]) => a === b && a), [...every]);
    const seen: string[] = [];
    every.forEach((v, v2, set) => seen.push(set === every && v === v2 ? v : '?'));
    assert.equal(seen, [...every]);
    assert.is(planTaskCount(project, every), countTasks(closure));
    assert.is(planTaskCount(project, every), 4);
    assert.is(planTaskCount(project, closure), 4);
    // a plan short of a phase is not every node
    assert.not.ok(reachesEveryNode(project, ['p:p']));
    const q = resolveTargets(project, ['q']);
    assert.ok(q.ok && q.value.length === 1);
    assert.not.ok(reachesEveryNode(project, q.value), 'q needs p, but not all of it is planned as every node would be');
  }));

test.run();
