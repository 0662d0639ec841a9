/**
 * The hinted build's plan (lib/cli/proof-hint.ts, narrowPlan): which tasks a few changed files
 * reach, and which recorded successes it reads for the rest.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NoopProof, ProofHint } from '../lib/build/noop-proof.js';
import { specFilesDigest } from '../lib/build/noop-proof.js';
import { sha256 } from '../lib/hash/digest.js';
import type { SuccessRecord } from '../lib/cache/types.js';
import { indexProjectPaths, narrowPlan } from '../lib/cli/proof-hint.js';
import { compileProject } from '../lib/graph/compile.js';
import type { CompiledProject } from '../lib/graph/project.js';
import { planClosure } from '../lib/graph/targets.js';
import { loadCompiledProject } from '../lib/graph/graph-cache.js';
import { createFileHasher } from '../lib/hash/file-hasher.js';
import { loadProject } from '../lib/spec/load.js';
import path from 'node:path';
import { withProject } from './helpers/project.js';

// Two phases: the barrier of p1 depends on all of p1's tasks; q/c reads a's output.
const PHASES = {
  'uet.config.yaml': 'version: 1\n',
  'phases/p1.yaml': `id: p1
workstreams:
  - id: w
    tasks:
      - { id: a, kind: build, run: "true", inputs: ["./src/a.txt"], outputs: [out/a.txt] }
      - { id: b, kind: build, run: "true", inputs: ["src//b.txt"], outputs: [out/b.txt] }
      - { id: c, kind: build, run: "true", inputs: [out/a.txt, src/c.txt], outputs: [out/c.txt], depends_on: [a] }
      - { id: d, kind: build, run: "true", inputs: ["src/d*.txt"], outputs: [out/d.txt] }
      - { id: f, kind: build, run: "true", inputs: [src/c.txt, "!src/x.txt", "./src/f.txt", "src/f.txt"], outputs: [out/f.txt] }
`,
  'phases/p2.yaml': `id: p2
depends_on: [p1]
workstreams:
  - id: v
    tasks:
      - { id: e, kind: build, run: "true", inputs: [src/e.txt], outputs: [out/e.txt] }
`,
};

async function compiled(dir: string): Promise<CompiledProject> {
  const loaded = await loadProject(dir);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.error));
  const c = compileProject(loaded.value.spec);
  assert.ok(c.ok);
  return c.value;
}

/** the graph these tests narrow is the one the proof was written for: both name no spec file */
const SAME_GRAPH = { files: [] };

function hint(changed: string[], folders: string[] = []): ProofHint {
  return { proof: { specDigest: specFilesDigest(SAME_GRAPH.files, sha256) } as NoopProof, changed: [...changed, ...folders], folders, relisted: [] };
}

function narrow(project: CompiledProject, changed: string[], folders: string[] = []) {
  const plan = planClosure(project, project.order);
  const asked: string[] = [];
  const records = (taskId: string): SuccessRecord => {
    asked.push(taskId);
    return { taskId, key: 'k', outputs: [{ path: `out/${taskId.slice(-1)}.txt`, hash: 'h', size: 1, mode: 0o644 }], at: 0 };
  };
  const narrowed = narrowPlan(project, plan, hint(changed, folders), records, SAME_GRAPH);
  assert.ok(narrowed);
  return { narrowed, asked: asked.sort() };
}

test('narrowPlan: literal inputs match however they are written; dependents are decided too', async () => {
  await withProject(PHASES, async (dir) => {
    const project = await compiled(dir);
    const a = narrow(project, ['src/a.txt']);
    assert.ok(a.narrowed.plan.has('t:p1/w/a'), './src/a.txt reads src/a.txt');
    assert.ok(a.narrowed.plan.has('t:p1/w/c'), 'c depends on a');
    assert.not.ok(a.narrowed.plan.has('t:p1/w/b'));
    const b = narrow(project, ['src/b.txt']);
    assert.ok(b.narrowed.plan.has('t:p1/w/b'), 'src//b.txt reads src/b.txt');
    const d = narrow(project, ['src/d1.txt']);
    assert.ok(d.narrowed.plan.has('t:p1/w/d'), 'a glob matches');
    // d's dependents: the p1 barrier and, after it, e; a, b, c and f stand as they were
    assert.ok(d.narrowed.plan.has('t:p2/v/e'));
    assert.is(d.narrowed.unchangedTasks, 4);
  });
});

test('narrowPlan with the task-path index uet serve keeps, or the one the graph cache stores, decides exactly what it decides without', async () => {
  await withProject(PHASES, async (dir) => {
    const project = await compiled(dir);
    const cases = [['src/a.txt'], ['src/b.txt'], ['src/d1.txt'], ['out/c.txt'], ['src/zz.txt', 'src/none.txt', 'src/d2.txt'], ['nowhere.txt', 'src/e.txt'], ['src/q.txt', 'src/r.txt'], ['src/c.txt'], ['src/f.txt'], ['src/x.txt']];
    const shape = (p: CompiledProject) => (changed: string[]): unknown => {
      const { narrowed, asked } = narrow(p, changed);
      return { plan: [...narrowed.plan].sort(), unchanged: narrowed.unchangedTasks, asked };
    };
    const scanned = cases.map(shape(project));
    assert.equal((scanned[6] as { plan: string[] }).plan, [], 'paths no task names reach nothing');
    assert.equal((scanned[7] as { plan: string[] }).plan.filter((k) => k.startsWith('t:')), ['t:p1/w/c', 't:p1/w/f', 't:p2/v/e'], 'two tasks read src/c.txt');

    // the graph cache's: written by a load that compiles, read by the next one
    const hasher = await createFileHasher(dir, path.join(dir, '.uet', 'stat-index'));
    await loadCompiledProject(dir, path.join(dir, '.uet'), hasher);
    const cached = await loadCompiledProject(dir, path.join(dir, '.uet'), hasher);
    assert.ok(cached.ok && cached.value.fromCache && cached.value.project.paths);
    assert.equal(cases.map(shape(cached.value.project)), scanned, 'the cached index');

    indexProjectPaths(project);
    assert.equal(cases.map(shape(project)), scanned, 'the resident index');
  });
});

test('narrowPlan: reads only the records of the decided tasks\' direct task dependencies, not those a barrier waits for', async () => {
  await withProject(PHASES, async (dir) => {
    const project = await compiled(dir);
    // c is decided; a feeds its key. The p1 barrier (decided: it depends on c) waits for a, b
    // and d, whose digests no key reads.
    const c = narrow(project, ['src/c.txt']);
    assert.ok(c.narrowed.plan.has('p:p1'));
    assert.ok(c.narrowed.plan.has('t:p2/v/e'), 'e comes after the barrier');
    assert.equal(c.asked, ['p1/w/a']);
    assert.is(c.narrowed.earlier.get('t:p1/w/b')?.status, 'fresh');
    // e alone: no task dependency, nothing to read
    assert.equal(narrow(project, ['src/e.txt']).asked, []);
  });
});

test('narrowPlan: a changed folder reaches the tasks whose globs may list it, as deep as they reach; the same with either index', async () => {
  const p3 = 'id: p3\nworkstreams:\n  - id: u\n    tasks:\n      - { id: g, kind: build, run: "true", inputs: ["lib/*/*.ts"] }\n      - { id: h, kind: build, run: "true", inputs: ["doc/**/*.md"] }\n      - { id: r, kind: build, run: "true", inputs: [README.md, "lib/x/keep.txt"] }\n';
  await withProject({ ...PHASES, 'phases/p3.yaml': p3 }, async (dir) => {
    const cases: Array<[string[], string[]]> = [
      // src is each literal input's folder (the globber may answer them from its listing) and d's glob's
      [['src'], ['t:p1/w/a', 't:p1/w/b', 't:p1/w/c', 't:p1/w/d', 't:p1/w/f']],
      [['src/deep'], []],
      [['lib'], ['t:p3/u/g']],
      [['lib/x'], ['t:p3/u/g', 't:p3/u/r']],
      [['lib/x/y'], []],
      [['doc/a/b/c'], ['t:p3/u/h']],
      // output globs count too
      [['out'], ['t:p1/w/a', 't:p1/w/b', 't:p1/w/c', 't:p1/w/d', 't:p1/w/f']],
      [[''], ['t:p3/u/r']],
      [['elsewhere', 'doc'], ['t:p3/u/h']],
    ];
    const answers = (project: CompiledProject): string[][] =>
      cases.map(([folders]) => [...narrow(project, [], folders).narrowed.plan].filter((k) => k.startsWith('t:') && !k.startsWith('t:p2/')).sort());
    const project = await compiled(dir);
    assert.equal(answers(project), cases.map(([, want]) => want), 'without an index');
    const hasher = await createFileHasher(dir, path.join(dir, '.uet', 'stat-index'));
    await loadCompiledProject(dir, path.join(dir, '.uet'), hasher);
    const cached = await loadCompiledProject(dir, path.join(dir, '.uet'), hasher);
    assert.ok(cached.ok && cached.value.fromCache && cached.value.project.paths);
    assert.equal(answers(cached.value.project), cases.map(([, want]) => want), 'the cached index');
    indexProjectPaths(project);
    assert.equal(answers(project), cases.map(([, want]) => want), 'the resident index');
  });
});

test.run();
