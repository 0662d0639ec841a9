/**
 * A spec edit after a build with a no-op proof, through the real CLI: the build compiles the
 * spec again and decides only the nodes the edit redefined (and what depends on them, and what
 * changed files reach); the proof vouches for the rest. Anything project-wide, or a compiled
 * graph the proof was not written for, decides everything. Which tasks ran is read from a file
 * the tasks append to; whether the build was narrowed, from its run log's `unchanged` event.
 *
 * Spec files are rewritten in place (as most editors save): a save that replaces the file
 * changes its folder, which no proof's hint covers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildUntilProof, lastRunProof, makeProject, readText, removeProject, runUet, startUet, takeLines, waitFor, writeText } from './helpers/project.js';
import { RACY_MS } from '../lib/build/noop-proof.js';
import { sleep } from '../lib/util/sleep.js';

/** past uet's racy window: a file this old is vouched for by its stat */
const RACY_WAIT_MS = RACY_MS + 100;

const P1 = `id: p1
workstreams:
  - id: ws
    tasks:
      - id: a
        run: echo a >> log/runs && mkdir -p out && cat src/a.txt > out/a.txt
        inputs: [src/a.txt]
        outputs: [out/a.txt]
      - id: b
        run: echo b >> log/runs && mkdir -p out && cat src/b.txt > out/b.txt
        inputs: [src/b.txt]
        outputs: [out/b.txt]
      - id: c
        run: echo c >> log/runs && tr a-z A-Z < out/a.txt > out/c.txt
        inputs: []
        outputs: [out/c.txt]
        depends_on: [a]
`;

const P2 = `id: p2
depends_on: [p1]
workstreams:
  - id: w
    tasks:
      - id: d
        run: echo d >> log/runs && cat out/b.txt > out/d.txt
        inputs: [out/b.txt]
        outputs: [out/d.txt]
`;

async function settledProject(): Promise<string> {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\nenv:\n  hash: [MODE]\ntools:\n  copy-b: { run: "echo b >> log/runs && mkdir -p out && cat src/b.txt > out/b.txt", version: "echo 1" }\n',
    'src/a.txt': 'apple\n',
    'src/b.txt': 'bee\n',
    'phases/p1.yaml': P1,
    'phases/p2.yaml': P2,
    'log/': '',
  });
  await sleep(RACY_WAIT_MS);
  return dir;
}

const ran = (dir: string): string[] => takeLines(dir, 'log/runs');

async function build(dir: string, env: Record<string, string> = {}): Promise<void> {
  const r = await runUet(dir, ['build'], { env });
  assert.is(r.code, 0, r.stderr + r.stdout);
}

/** builds until a proof stands (a build right after an edit may find files still racy) */
const withProof = (dir: string, env: Record<string, string> = {}): Promise<void> => buildUntilProof(dir, () => build(dir, env), () => ran(dir));

function edit(dir: string, rel: string, change: (text: string) => string): void {
  const before = readText(dir, rel);
  const after = change(before);
  assert.is.not(after, before, `the edit of ${rel} changes it`);
  writeText(dir, rel, after);
}

test('a comment, or lines that move every definition, decide nothing again; a changed command runs its task and what depends on it', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    edit(dir, 'phases/p1.yaml', (t) => `${t}# a note\n`);
    await build(dir);
    assert.equal(ran(dir), []);
    assert.equal(await lastRunProof(dir), { unchanged: 4, fastPath: false, proofWritten: true }, 'narrowed to nothing, and a proof written');
    await build(dir);
    assert.ok((await lastRunProof(dir)).fastPath, 'the next build answers from that proof');

    edit(dir, 'phases/p1.yaml', (t) => `# moved down\n\n${t}`);
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, 4);

    edit(dir, 'phases/p1.yaml', (t) => t.replace('cat src/a.txt > out/a.txt', 'cat src/a.txt src/a.txt > out/a.txt'));
    await build(dir);
    assert.equal(ran(dir), ['a', 'c']);
    assert.is(readText(dir, 'out/c.txt'), 'APPLE\nAPPLE\n');
    // b was neither redefined nor reached (d is decided, and fresh: it waits for p1's end)
    assert.equal(await lastRunProof(dir), { unchanged: 1, fastPath: false, proofWritten: true });
    await build(dir);
    assert.equal(ran(dir), []);
    assert.ok((await lastRunProof(dir)).fastPath);
    // the proof covers what the edit decided: a source edit after it is narrowed as usual
    writeText(dir, 'src/a.txt', 'avocado\n');
    await build(dir);
    assert.equal(ran(dir), ['a', 'c']);
    assert.is(readText(dir, 'out/c.txt'), 'AVOCADO\nAVOCADO\n');
  } finally {
    removeProject(dir);
  }
});

test('a new dependency, a new task, a newly hashed variable and a task no proof can stand for are each decided', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    edit(dir, 'phases/p1.yaml', (t) => t.replace('depends_on: [a]', 'depends_on: [a, b]'));
    await build(dir);
    assert.equal(ran(dir), ['c'], "c's key now names b's output");
    assert.is((await lastRunProof(dir)).unchanged, 2, 'a and b');

    edit(dir, 'phases/p2.yaml', (t) => `${t}      - id: e\n        run: echo e >> log/runs && cat out/d.txt > out/e.txt\n        inputs: []\n        outputs: [out/e.txt]\n        depends_on: [d]\n`);
    await build(dir);
    assert.equal(ran(dir), ['e']);
    assert.is(readText(dir, 'out/e.txt'), 'bee\n');
    assert.is((await lastRunProof(dir)).unchanged, 4);

    // b now hashes FLAVOR: it runs (its key has a new part); c and d read b's output, unchanged
    edit(dir, 'phases/p1.yaml', (t) => t.replace('        inputs: [src/b.txt]\n', '        inputs: [src/b.txt]\n        env:\n          hash: [FLAVOR]\n'));
    await build(dir);
    assert.equal(ran(dir), ['b']);
    await build(dir);
    assert.ok((await lastRunProof(dir)).fastPath);
    // the proof that build wrote watches FLAVOR too
    await build(dir, { FLAVOR: 'mint' });
    assert.equal(ran(dir), ['b']);
    assert.not.ok((await lastRunProof(dir)).fastPath);

    // b now runs through a tool whose version command joins its key: that command runs every
    // build, so no proof may stand for b (b has a recorded success all the same)
    await withProof(dir, { FLAVOR: 'mint' });
    edit(dir, 'phases/p1.yaml', (t) => t.replace('run: echo b >> log/runs && mkdir -p out && cat src/b.txt > out/b.txt', 'tool: copy-b'));
    await build(dir, { FLAVOR: 'mint' });
    assert.equal(ran(dir), ['b']);
    assert.not.ok((await lastRunProof(dir)).proofWritten);
    await build(dir, { FLAVOR: 'mint' });
    assert.equal(ran(dir), []);
    assert.not.ok((await lastRunProof(dir)).fastPath, "b's tool version is asked again");
  } finally {
    removeProject(dir);
  }
});

test('a config or phase edit decides every task; so does a graph compiled by another command since the proof was written', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    edit(dir, 'uet.config.yaml', (t) => t.replace('hash: [MODE]', 'hash: [MODE, OTHER]'));
    await build(dir);
    assert.equal(ran(dir), ['a', 'b', 'c', 'd'], 'every key reads the config\'s hashed variables');
    assert.is((await lastRunProof(dir)).unchanged, undefined, 'not narrowed');

    await withProof(dir);
    edit(dir, 'phases/p2.yaml', (t) => t.replace('depends_on: [p1]', 'depends_on: [p1]\nname: second'));
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, undefined, 'a phase changed: every node decided');

    // a's command changes, and `uet graph` compiles it (replacing the cached graph) without
    // building; then b's changes. The build must not compare with the graph `uet graph` left,
    // which already had a's new command: the proof was written for the one before.
    await withProof(dir);
    edit(dir, 'phases/p1.yaml', (t) => t.replace('cat src/a.txt > out/a.txt', 'cat src/a.txt src/a.txt > out/a.txt'));
    const graph = await runUet(dir, ['graph', '--format', 'json']);
    assert.is(graph.code, 0, graph.stderr);
    edit(dir, 'phases/p1.yaml', (t) => t.replace('cat src/b.txt > out/b.txt', 'cat src/b.txt src/b.txt > out/b.txt'));
    await build(dir);
    assert.equal(ran(dir), ['a', 'b', 'c', 'd']);
    assert.is(readText(dir, 'out/c.txt'), 'APPLE\nAPPLE\n');
    assert.is(readText(dir, 'out/d.txt'), 'bee\nbee\n');
  } finally {
    removeProject(dir);
  }
});

test('uet serve narrows after a spec edit too, and keeps narrowing on the graph it compiled', async () => {
  const dir = await settledProject();
  const server = startUet(dir, ['serve']);
  try {
    await waitFor(() => server.stdout().includes('serving the builds of'), 20_000, `uet serve to listen: ${server.stderr()}`);
    await withProof(dir);
    edit(dir, 'phases/p1.yaml', (t) => t.replace('cat src/a.txt > out/a.txt', 'cat src/a.txt src/a.txt > out/a.txt'));
    await build(dir);
    assert.equal(ran(dir), ['a', 'c']);
    assert.is((await lastRunProof(dir)).unchanged, 1);
    // the server's graph is now the one it compiled: a source edit is narrowed against it
    writeText(dir, 'src/b.txt', 'bumble\n');
    await build(dir);
    assert.equal(ran(dir), ['b', 'd']);
    assert.is((await lastRunProof(dir)).unchanged, 2, 'a and c');
    edit(dir, 'phases/p2.yaml', (t) => `${t}# a note\n`);
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, 4);
    assert.match(server.stdout(), / uet build.* → exit 0/);
  } finally {
    server.child.kill('SIGKILL');
    removeProject(dir);
  }
});

test.run();
