/**
 * The compiled-graph cache (lib/graph/graph-cache.ts): a load that compiles runs on the project
 * read back from the text it stored, the same one the next load restores from the cache; and it
 * says where its garbage lies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadCompiledProject } from '../lib/graph/graph-cache.js';
import { createFileHasher } from '../lib/hash/file-hasher.js';
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

test('a compiling load runs on what the next load restores from the cache, and says twice where its garbage lies', () =>
  withProject(FILES, async (dir) => {
    const first = await load(dir);
    assert.is(first.loaded.fromCache, false);
    assert.is(first.told, 2, 'after the YAML, and after storing the graph');
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

test('a cache that cannot be written still gives the build its project', () =>
  withProject(FILES, async (dir) => {
    // a file where the cache's folder should be
    const blocked = path.join(dir, 'blocked');
    fs.writeFileSync(blocked, '');
    const { loaded } = await load(dir, blocked);
    assert.is(loaded.fromCache, false);
    assert.equal(loaded.project.order.filter((k) => k.startsWith('t:')), ['t:p1/ws/a', 't:p1/ws/b', 't:p2/w/c']);
  }));

test.run();
