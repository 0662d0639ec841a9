/**
 * The compiled-graph cache (lib/graph/graph-cache.ts): a load that compiles runs on the project
 * read back from the text it stored, the same one the next load restores from the cache; and it
 * says where its garbage lies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { graphCacheJson, graphCacheText, loadCompiledProject, sameJson, type GraphCacheJson } from '../lib/graph/graph-cache.js';
import { createFileHasher } from '../lib/hash/file-hasher.js';
import { loadProject } from '../lib/spec/load.js';
import type { ProjectSpec } from '../lib/spec/model.js';
import { withProject } from './helpers/project.js';

const FILES = {
  'uet.config.yaml': 'version: 1\nproject: g\n',
  'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - id: a
        run: echo a
        outputs: [out/a.txt]
      - id: b
        run: echo b
        inputs: [out/a.txt]
        depends_on: [a]
`,
  'phases/p2.yaml': 'id: p2\ndepends_on: [p1]\nworkstreams:\n  - id: w\n    tasks:\n      - id: c\n        run: echo c\n',
};

async function load(dir: string, uetDir = path.join(dir, '.uet')) {
  const hasher = await createFileHasher(dir, path.join(dir, '.uet', 'stat-index'));
  let told = 0;
  const r = await loadCompiledProject(dir, uetDir, hasher, { onGarbage: () => told++ });
  if (!r.ok) throw new Error(r.error.map((d) => d.message).join('\n'));
  return { loaded: r.value, told };
}

test('a compiling load runs on what the next load restores from the cache, and says three times where its garbage lies', () =>
  withProject(FILES, async (dir) => {
    const first = await load(dir);
    assert.is(first.loaded.fromCache, false);
    assert.is(first.told, 3, 'after the YAML, after compiling, and after storing the graph');
    const second = await load(dir);
    assert.is(second.loaded.fromCache, true);
    assert.is(second.told, 0, 'a load from the cache allocates little');
    assert.equal(first.loaded.project.spec, second.loaded.project.spec);
    assert.equal(first.loaded.project.order, second.loaded.project.order);
    const b = first.loaded.project.spec.phases[0]!.workstreams[0]!.tasks[1]!;
    assert.is(b.id, 'b');
    assert.equal(b.dependsOn, [], 'the references stayed with the compiler');
    assert.equal(first.loaded.project.graph.inNeighbors('t:p1/ws/b'), ['t:p1/ws/a'], 'the edge they made is in the graph');
  }));

/** first tasks that lack what later ones have, later ones that lack what the first has */
const VARIED = {
  'uet.config.yaml': 'version: 1\nproject: v\nenv:\n  hash: [MODE]\ntools:\n  lint: { run: "echo lint", timeout: 5s }\n  fixer: { run: "true" }\n',
  'phases/p1.yaml': `id: p1
workstreams:
  - id: w
    tasks:
      - id: plain
        run: echo plain
      - id: full
        kind: static
        tool: lint
        args: [--strict]
        inputs: ['src/**/*.ts']
        outputs: [out/full.txt]
        env: { hash: [EXTRA], set: { A: '1' } }
        cwd: src
        retries: 2
        retry_delay: 5s
        timeout: 1m
        cache: false
        clean: false
        fix: fixer
        depends_on: [plain]
      - id: again
        run: echo plain
  - id: rev
    tasks:
      - { id: big, tool: lint, inputs: [src/a.ts], outputs: [out/big.txt], timeout: 2s, fix: fixer, cwd: src }
      - { id: small, run: echo small }
  - id: empty
    tasks: []
  - id: solo
    tasks:
      - { id: one, run: echo one, inputs: [], outputs: [out/one.txt], depends_on: [w] }
`,
};

/** the spec as compiled, without the references the cache leaves to the compiler */
function withoutReferences(spec: ProjectSpec): ProjectSpec['phases'] {
  return spec.phases.map((phase) => ({ ...phase, workstreams: phase.workstreams.map((ws) => ({ ...ws, tasks: ws.tasks.map((t) => ({ ...t, dependsOn: [] })) })) }));
}

test('tasks kept as differences from their workstream\'s first read back as compiled, fields missing on either side included', () =>
  withProject(VARIED, async (dir) => {
    const compiled = await loadProject(dir);
    if (!compiled.ok) throw new Error(compiled.error.map((d) => d.message).join('\n'));
    const expected = withoutReferences(compiled.value.spec);
    const first = await load(dir);
    assert.equal(first.loaded.project.spec.phases, expected, 'the project a compiling load runs on');
    const second = await load(dir);
    assert.is(second.loaded.fromCache, true);
    assert.equal(second.loaded.project.spec.phases, expected, 'the project restored from the cache');
    const file = graphCacheJson(fs.readFileSync(path.join(dir, '.uet', 'graph.json')))!;
    const texts = file.spec.phases.flatMap((p) => p.workstreams.map((w) => w.tasks));
    assert.ok(texts.some((t) => t.includes('"-":[')), 'a later task lacking a field of the first is written as such');
  }));

test('sameJson says equal only for values JSON writes the same, keys in order', () => {
  assert.ok(sameJson('a', 'a'));
  assert.ok(sameJson({ a: [1, { b: 'x' }], c: null }, { a: [1, { b: 'x' }], c: null }));
  assert.ok(sameJson([], []));
  assert.not.ok(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 }), 'key order is part of what is written');
  assert.not.ok(sameJson([1, 2], [1, 2, 3]));
  assert.not.ok(sameJson({ a: [1] }, { a: [2] }));
  assert.not.ok(sameJson({ a: 1 }, { a: '1' }));
  assert.not.ok(sameJson([], {}));
  assert.not.ok(sameJson(null, {}));
  assert.not.ok(sameJson({ a: 1 }, { a: 1, b: 2 }));
});

test('a cache file of another format (format 1 had no format field) is rebuilt, not misread', () =>
  withProject(FILES, async (dir) => {
    await load(dir);
    const file = path.join(dir, '.uet', 'graph.json');
    const current = graphCacheJson(fs.readFileSync(file))! as unknown as Record<string, unknown>;
    const { writer, format: _format, ...rest } = current;
    // what a uet that knew only format 1 wrote: its tasks whole, here emptied to tell them apart
    fs.writeFileSync(file, JSON.stringify({ ...rest, uetVersion: writer, spec: { ...(rest['spec'] as object), phases: [] } }));
    const again = await load(dir);
    assert.is(again.loaded.fromCache, false);
    assert.equal(again.loaded.project.order.filter((k) => k.startsWith('t:')), ['t:p1/ws/a', 't:p1/ws/b', 't:p2/w/c']);
    assert.is(graphCacheJson(fs.readFileSync(file))?.format, 6, 'rewritten in the current format');
  }));

test('a workstream\'s tasks are read from the cache when first asked for, and a count that does not fit recompiles', () =>
  withProject(FILES, async (dir) => {
    await load(dir);
    const file = path.join(dir, '.uet', 'graph.json');
    const { loaded } = await load(dir);
    assert.is(loaded.fromCache, true);
    const ws = loaded.project.spec.phases[1]!.workstreams[0]!;
    assert.ok(Object.getOwnPropertyDescriptor(ws, 'tasks')?.get, 'tasks wait to be read');
    const c = loaded.project.graph.getNodeAttributes('t:p2/w/c');
    assert.is(c.kind === 'task' && c.task.run, 'echo c');
    assert.is(c.kind === 'task' && c.task, ws.tasks[0], 'the node and its workstream hold the same task');
    assert.ok(Object.getOwnPropertyDescriptor(ws, 'tasks')?.value, 'once read, the tasks are kept in place of their text');

    // one task fewer than the layout's keys for that workstream: not this graph
    const cached = graphCacheJson(fs.readFileSync(file))! as unknown as { spec: { phases: Array<{ workstreams: Array<{ taskCount: number }> }> } };
    cached.spec.phases[1]!.workstreams[0]!.taskCount = 0;
    fs.writeFileSync(file, graphCacheText(cached as unknown as GraphCacheJson));
    const recount = await load(dir);
    assert.is(recount.loaded.fromCache, false, 'compiled again');
    assert.equal(recount.loaded.project.order.filter((k) => k.startsWith('t:')), ['t:p1/ws/a', 't:p1/ws/b', 't:p2/w/c']);
  }));

test('the graph\'s rows are kept with their digest: rows that are not the ones written recompile, and are never walked', () =>
  withProject(FILES, async (dir) => {
    await load(dir);
    const file = path.join(dir, '.uet', 'graph.json');
    const cached = graphCacheJson(fs.readFileSync(file))!;
    const { loaded } = await load(dir);
    assert.is(loaded.fromCache, true);
    const walk = (g: typeof loaded.project.graph) => g.nodes().map((k) => `${k} <- ${g.inEdges(k).join(' ')} -> ${g.outNeighbors(k).join(' ')}`);
    const rows = Buffer.from(cached.layout.rows, 'base64');
    // one neighbour's index changed, so that it still names a node: only the digest can tell
    const m = rows.readUInt32LE(8);
    const lastNeighbour = rows.length - 2 * m - 4;
    rows.writeUInt32LE((rows.readUInt32LE(lastNeighbour) + 1) % cached.layout.keys.length, lastNeighbour);
    fs.writeFileSync(file, graphCacheText({ ...cached, layout: { ...cached.layout, rows: rows.toString('base64') } }));
    const again = await load(dir);
    assert.is(again.loaded.fromCache, false, 'compiled again');
    assert.equal(walk(again.loaded.project.graph), walk(loaded.project.graph));
    const rewritten = graphCacheJson(fs.readFileSync(file))!;
    assert.is(rewritten.layout.rows, cached.layout.rows, 'the cache holds the graph\'s rows again');
    assert.is((await load(dir)).loaded.fromCache, true);
  }));

test('a cache that cannot be written still gives the build its project', () =>
  withProject(FILES, async (dir) => {
    // a file where the cache's folder should be
    const blocked = path.join(dir, 'blocked');
    fs.writeFileSync(blocked, '');
    const { loaded } = await load(dir, blocked);
    assert.is(loaded.fromCache, false);
    assert.equal(loaded.project.order.filter((k) => k.startsWith('t:')), ['t:p1/ws/a', 't:p1/ws/b', 't:p2/w/c']);
  }));

test('the cache file is a header line, then the tasks\' texts at the offsets it gives; a span that does not fit fails when read', () =>
  withProject(FILES, async (dir) => {
    await load(dir);
    const file = path.join(dir, '.uet', 'graph.json');
    const bytes = fs.readFileSync(file);
    const newline = bytes.indexOf(0x0a);
    const header = JSON.parse(bytes.toString('utf8', 0, newline)) as { spec: { phases: Array<{ workstreams: Array<{ tasks: [number, number] }> }> } };
    const spans = header.spec.phases.flatMap((p) => p.workstreams.map((w) => w.tasks));
    assert.equal(spans.map(([start]) => start), [0, spans[0]![1]], 'one after the other');
    assert.is(spans[1]![1], bytes.length - newline - 1, 'to the end of the file');
    assert.equal((JSON.parse(bytes.toString('utf8', newline + 1 + spans[1]![0], newline + 1 + spans[1]![1])) as Array<{ id: string }>).map((t) => t.id), ['c']);

    header.spec.phases[1]!.workstreams[0]!.tasks = [0, bytes.length];
    fs.writeFileSync(file, Buffer.concat([Buffer.from(JSON.stringify(header)), bytes.subarray(newline)]));
    const { loaded } = await load(dir);
    assert.is(loaded.fromCache, true, 'the header is all a load reads');
    assert.throws(() => loaded.project.spec.phases[1]!.workstreams[0]!.tasks, /damaged workstream 'p2\/w'.*delete \.uet\/graph\.json/);
  }));

test.run();
