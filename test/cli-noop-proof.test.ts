/**
 * The no-op fast path, through the real CLI: a successful build leaves a proof; the next
 * identical build answers from it without examining a task, and any change a full build would
 * act on makes it fall back to the full build. Which tasks ran is read from a side-effect file
 * the tasks append to.
 *
 * Most tests wait 2 s after making their project, so that its files are older than the racy
 * window and the stats alone vouch for them; the first test does not, and relies on digests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildUntilProof, lastRunProof, makeProject, parseEvents, readText, removeProject, runUet, startUet, takeLines, waitFor, writeText } from './helpers/project.js';
import { DIRECT_PLAN_TASKS } from '../lib/cli/build-command.js';
import { parseProof } from '../lib/build/noop-proof.js';

const RACY_WAIT_MS = 2100;

function project(): string {
  return makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\nenv:\n  hash: [MODE]\n',
    'src/a.txt': 'hello\n',
    'src/more/x.txt': 'x\n',
    'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - id: gen
        run: echo gen >> log/runs && mkdir -p out && cat src/a.txt > out/a.txt
        inputs: [src/a.txt]
        outputs: [out/a.txt]
      - id: all
        run: echo all >> log/runs && mkdir -p out && cat src/more/*.txt > out/all.txt
        inputs: ['src/more/*.txt']
        outputs: [out/all.txt]
      - id: upper
        run: echo upper >> log/runs && tr a-z A-Z < out/a.txt > out/A.txt
        inputs: []
        outputs: [out/A.txt]
        depends_on: [gen]
`,
    'log/': '',
  });
}

const ran = (dir: string): string[] => takeLines(dir, 'log/runs');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function build(dir: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = await runUet(dir, ['build', ...args], { env });
  assert.is(r.code, 0, r.stderr + r.stdout);
  return r;
}

/** did the last run decide from the proof? */
async function lastWasFastPath(dir: string): Promise<boolean> {
  const r = await runUet(dir, ['runs', 'last']);
  assert.is(r.code, 0, r.stderr);
  return /no-op {4}\d+ files and folders unchanged/.test(r.stdout);
}

async function proofWritten(dir: string): Promise<boolean> {
  const r = await runUet(dir, ['runs', 'last']);
  return /proof {4}a no-op proof was written/.test(r.stdout);
}

/** build until a proof is in place (a folder changed just before a build makes it wait out the racy window) */
const withProof = (dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<void> => buildUntilProof(dir, () => build(dir, args, env), () => ran(dir));

async function settledProject(): Promise<string> {
  const dir = project();
  await sleep(RACY_WAIT_MS);
  return dir;
}

test('the build that ran every task leaves a proof, even in a project made a moment ago: the next build answers from it', async () => {
  // folders and files changed just now carry digests (listings, contents) the check re-reads
  const dir = project();
  try {
    await build(dir);
    assert.equal(ran(dir), ['all', 'gen', 'upper']);
    assert.ok(await proofWritten(dir), 'written by the build that ran the tasks');
    const r = await build(dir);
    assert.equal(ran(dir), []);
    assert.ok(await lastWasFastPath(dir));
    assert.match(r.stdout.trim(), /^t: 3 tasks — 3 fresh, 0 restored, 0 ran, 0 failed \(\d+\.\d s\)$/);
    // its outputs were written moments before the proof: their content is re-read, so an edit
    // that keeps size and timestamps is still seen
    const abs = path.join(dir, 'out/A.txt');
    const before = fs.statSync(abs);
    fs.writeFileSync(abs, 'HELLX\n');
    fs.utimesSync(abs, before.atime, before.mtime);
    await build(dir);
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
    assert.not.ok(await lastWasFastPath(dir));
  } finally {
    removeProject(dir);
  }
});

test('an output rewritten after the build recorded it (same size, before the proof is written) is caught by the next check', async () => {
  // `clobber` rewrites `first`'s output, undeclared: the build recorded HELLO, the disk holds
  // HELLX when the proof is written. The proof may only vouch for what the build recorded.
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/a.txt': 'a\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: ws
    tasks:
      - id: first
        run: echo first >> log/runs && mkdir -p out && printf 'HELLO\\n' > out/A.txt
        inputs: [src/a.txt]
        outputs: [out/A.txt]
      - id: clobber
        run: echo clobber >> log/runs && printf 'HELLX\\n' > out/A.txt && echo b > out/B.txt
        inputs: []
        outputs: [out/B.txt]
        depends_on: [first]
`,
    'log/': '',
  });
  try {
    await sleep(RACY_WAIT_MS);
    await build(dir);
    assert.equal(ran(dir), ['clobber', 'first']);
    assert.is(readText(dir, 'out/A.txt'), 'HELLX\n');
    assert.ok(await proofWritten(dir), 'a proof was written');
    // the fast path must not answer: out/A.txt is not what \`first\` recorded
    await build(dir);
    assert.not.ok(await lastWasFastPath(dir), 'answered from a proof that vouches for HELLX');
    // its output is not the one it recorded: restored from the cache (or run again)
    const events = parseEvents((await runUet(dir, ['runs', 'last', '--json'])).stdout);
    const firstEnd = events.find((e) => e['type'] === 'task-end' && e['task'] === 'p/ws/first');
    assert.ok(firstEnd?.['status'] === 'restored' || firstEnd?.['status'] === 'ran', `first ended ${String(firstEnd?.['status'])}`);
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
  } finally {
    removeProject(dir);
  }
});

test('a check that finds the racy entries unchanged once they have settled signs the proof anew without their digests; edits are still seen', async () => {
  const dir = project();
  try {
    await build(dir);
    assert.equal(ran(dir), ['all', 'gen', 'upper']);
    const digests = (): number => {
      const folder = path.join(dir, '.uet', 'noop');
      const [name, ...more] = fs.readdirSync(folder);
      assert.is(more.length, 0);
      return parseProof(fs.readFileSync(path.join(folder, name!)))!.signed.digests.size;
    };
    const racy = digests();
    assert.ok(racy > 0, 'the files the build wrote are racy in its proof');
    // checked within the racy window: the digests stay
    await build(dir);
    assert.ok(await lastWasFastPath(dir));
    assert.is(digests(), racy);
    await sleep(RACY_WAIT_MS);
    await build(dir);
    assert.ok(await lastWasFastPath(dir));
    assert.is(digests(), 0, 'signed anew: the stats alone vouch for the files now');
    await build(dir);
    assert.ok(await lastWasFastPath(dir), 'the settled proof answers');
    assert.equal(ran(dir), []);
    // an edit keeping the size and the mtime is still seen (its ctime moved)
    const abs = path.join(dir, 'out/A.txt');
    const before = fs.statSync(abs);
    fs.writeFileSync(abs, 'HELLX\n');
    fs.utimesSync(abs, before.atime, before.mtime);
    await build(dir);
    assert.not.ok(await lastWasFastPath(dir));
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
  } finally {
    removeProject(dir);
  }
});

test('a build deciding only what changed settles the racy entries of the proof it builds on: what the build before wrote last is not re-read ever after', async () => {
  const dir = project();
  try {
    await build(dir);
    assert.equal(ran(dir), ['all', 'gen', 'upper']);
    const withDigests = (): string[] => {
      const folder = path.join(dir, '.uet', 'noop');
      const [name] = fs.readdirSync(folder);
      const signed = parseProof(fs.readFileSync(path.join(folder, name!)))!.signed;
      return [...signed.digests.keys()].map((i) => signed.paths[i]!).sort();
    };
    assert.ok(withDigests().includes('out/A.txt'), `racy after the first build: ${withDigests().join(' ')}`);
    await sleep(RACY_WAIT_MS);
    writeText(dir, 'src/more/x.txt', 'X\n');
    await build(dir);
    assert.equal(ran(dir), ['all']);
    assert.match((await runUet(dir, ['runs', 'last'])).stdout, /2 tasks unchanged since the last build/);
    const left = withDigests();
    for (const settled of ['out/A.txt', 'out/a.txt', 'src/a.txt']) assert.not.ok(left.includes(settled), `${settled} settled: ${left.join(' ')}`);
    // and what did change is still seen
    const abs = path.join(dir, 'out/A.txt');
    fs.writeFileSync(abs, 'HELLX\n');
    await build(dir);
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
  } finally {
    removeProject(dir);
  }
});

test('an unchanged project is answered from the proof, with the same summary', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    const r = await build(dir);
    assert.equal(ran(dir), []);
    assert.ok(await lastWasFastPath(dir), 'decided from the proof');
    assert.match(r.stdout.trim(), /^t: 3 tasks — 3 fresh, 0 restored, 0 ran, 0 failed \(\d+\.\d s\)$/);
    // --quiet, -j and --keep-going print the same and may use it too
    await build(dir, ['--quiet', '-j', '3', '--keep-going']);
    assert.ok(await lastWasFastPath(dir));
  } finally {
    removeProject(dir);
  }
});

test('an edit that keeps the size and the mtime is still seen (ctime)', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    const abs = path.join(dir, 'src/a.txt');
    const before = fs.statSync(abs);
    fs.writeFileSync(abs, 'jello\n');
    fs.utimesSync(abs, before.atime, before.mtime);
    await build(dir);
    assert.equal(ran(dir), ['gen', 'upper']);
    assert.is(readText(dir, 'out/A.txt'), 'JELLO\n');
    assert.not.ok(await lastWasFastPath(dir));
  } finally {
    removeProject(dir);
  }
});

test('a deleted output, a new file matching a glob, a hashed variable and a spec edit all fall back', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    fs.rmSync(path.join(dir, 'out/A.txt'));
    await build(dir);
    assert.ok(fs.existsSync(path.join(dir, 'out/A.txt')), 'the deleted output is back');
    assert.not.ok(await lastWasFastPath(dir));
    // that build restored it without hashing it; its proof still covers it
    fs.rmSync(path.join(dir, 'out/A.txt'));
    await build(dir);
    assert.ok(fs.existsSync(path.join(dir, 'out/A.txt')), 'restored again');
    assert.not.ok(await lastWasFastPath(dir));

    await withProof(dir);
    writeText(dir, 'src/more/y.txt', 'y\n');
    await build(dir);
    assert.equal(ran(dir), ['all']);
    assert.is(readText(dir, 'out/all.txt'), 'x\ny\n');

    await withProof(dir);
    await build(dir, [], { MODE: 'other' });
    assert.equal(ran(dir), ['all', 'gen', 'upper']);
    assert.not.ok(await lastWasFastPath(dir));

    await withProof(dir);
    writeText(dir, 'phases/p1.yaml', readText(dir, 'phases/p1.yaml').replace('tr a-z A-Z', 'tr a-y A-Y'));
    await build(dir);
    assert.equal(ran(dir), ['upper']);
  } finally {
    removeProject(dir);
  }
});

test('when only some files changed, only the tasks they reach are examined; the next build is a no-op again', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    writeText(dir, 'src/more/x.txt', 'X\n');
    const r = await build(dir);
    assert.equal(ran(dir), ['all']);
    assert.is(readText(dir, 'out/all.txt'), 'X\n');
    assert.match(r.stdout.trim().split('\n').pop()!, /^t: 3 tasks — 2 fresh, 0 restored, 1 ran, 0 failed/);
    const log = await runUet(dir, ['runs', 'last']);
    assert.match(log.stdout, /no-op {4}2 tasks unchanged since the last build \(only src\/more\/x\.txt changed\): not examined/);
    // a hand-edited output reaches the task that wrote it, and what depends on it
    writeText(dir, 'out/a.txt', 'edited\n');
    await build(dir);
    assert.is(readText(dir, 'out/a.txt'), 'hello\n', 'restored');
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
    // the proof those builds left covers the whole plan, hashed variables included
    await build(dir);
    assert.ok(await lastWasFastPath(dir));
    await build(dir, [], { MODE: 'other' });
    assert.not.ok(await lastWasFastPath(dir), 'a hashed variable changed');
    assert.equal(ran(dir), ['all', 'gen', 'upper']);
    await build(dir);
    assert.equal(ran(dir), [], 'back to the old value: restored from the cache');
    writeText(dir, 'src/a.txt', 'bye\n');
    await build(dir);
    assert.equal(ran(dir), ['gen', 'upper']);
    assert.is(readText(dir, 'out/A.txt'), 'BYE\n');
  } finally {
    removeProject(dir);
  }
});

/** as editors with "safe write", vim and `sed -i` save: a new file renamed over the old one (its folder changes too) */
function replaceFile(dir: string, rel: string, text: string): void {
  const tmp = `${rel}.uet-test-tmp`;
  writeText(dir, tmp, text);
  fs.renameSync(path.join(dir, tmp), path.join(dir, rel));
}

test('a changed folder narrows to the tasks that may list it: a file saved by rename, a swap file, a new file, a new spec file', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    replaceFile(dir, 'src/more/x.txt', 'ex\n');
    await build(dir);
    assert.equal(ran(dir), ['all']);
    assert.is(readText(dir, 'out/all.txt'), 'ex\n');
    assert.is((await lastRunProof(dir)).unchanged, 2, 'gen and upper list no folder that changed');
    // a swap file come and gone: the folder's stat changed, its names did not; nothing that
    // listed it is decided, and the proof signs its new stat (the next build answers from it)
    await withProof(dir);
    writeText(dir, 'src/more/.x.txt.swp', 'swap');
    fs.rmSync(path.join(dir, 'src/more/.x.txt.swp'));
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, 3, 'no task decided');
    await build(dir);
    assert.ok(await lastWasFastPath(dir));
    // an editor's swap file beside the source: the folder's names changed, no input did
    writeText(dir, 'src/more/.x.txt.swp', 'swap');
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, 2);
    writeText(dir, 'src/more/z.txt', 'zed\n');
    await build(dir);
    assert.equal(ran(dir), ['all']);
    assert.is(readText(dir, 'out/all.txt'), 'ex\nzed\n');
    assert.is((await lastRunProof(dir)).unchanged, 2);
    // a spec file saved by rename: compiled again, nothing redefined
    replaceFile(dir, 'phases/p1.yaml', `${readText(dir, 'phases/p1.yaml')}# saved by rename\n`);
    await build(dir);
    assert.equal(ran(dir), []);
    assert.is((await lastRunProof(dir)).unchanged, 3);
    // a new spec file in a spec folder: its phase is built (the cached graph is not vouched for)
    await withProof(dir);
    writeText(dir, 'phases/p3.yaml', 'id: p3\nworkstreams:\n  - id: w\n    tasks:\n      - { id: new, run: "echo new >> log/runs", inputs: [] }\n');
    await build(dir);
    assert.equal(ran(dir), ['new']);
    await build(dir);
    assert.equal(ran(dir), []);
    assert.ok(await lastWasFastPath(dir));
  } finally {
    removeProject(dir);
  }
});

test('a name that turns from a file into a folder, the names unchanged, is a changed listing: what ** walks into is decided', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/deep/a.txt': 'a\n',
    'src/deep/notes': 'not an input\n',
    'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - id: tree
        run: echo tree >> log/runs && mkdir -p out && find src/deep -name '*.txt' | sort | xargs cat > out/tree.txt
        inputs: ['src/deep/**/*.txt']
        outputs: [out/tree.txt]
`,
    'log/': '',
  });
  try {
    await sleep(RACY_WAIT_MS);
    await withProof(dir);
    fs.rmSync(path.join(dir, 'src/deep/notes'));
    writeText(dir, 'src/deep/notes/b.txt', 'b\n');
    await build(dir);
    assert.equal(ran(dir), ['tree']);
    assert.is(readText(dir, 'out/tree.txt'), 'a\nb\n');
  } finally {
    removeProject(dir);
  }
});

test('a hinted build whose task fails blocks what depends on it, across the phase barrier, naming the task', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/c.txt': 'ok\n',
    'src/o.txt': 'o\n',
    'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - { id: check, run: "echo check >> log/runs && grep -q ok src/c.txt", inputs: [src/c.txt] }
      - { id: other, run: "echo other >> log/runs", inputs: [src/o.txt] }
`,
    'phases/p2.yaml': 'id: p2\ndepends_on: [p1]\nworkstreams:\n  - id: w\n    tasks:\n      - { id: after, run: "echo after >> log/runs", inputs: [] }\n',
    'log/': '',
  });
  try {
    await sleep(RACY_WAIT_MS);
    await withProof(dir);
    writeText(dir, 'src/c.txt', 'bad\n');
    const r = await runUet(dir, ['build']);
    assert.is.not(r.code, 0, r.stdout);
    assert.equal(ran(dir), ['check'], 'other is unchanged; after is blocked');
    const events = parseEvents((await runUet(dir, ['runs', 'last', '--json'])).stdout);
    const unchanged = events.find((e) => e['type'] === 'unchanged');
    assert.ok(unchanged, 'the build was narrowed by the hint');
    assert.is(unchanged['tasks'], 1, 'other was left out as unchanged (after depends on check, through the phase)');
    const after = events.find((e) => e['type'] === 'task-end' && e['task'] === 'p2/w/after');
    assert.equal([after?.['status'], after?.['reason']], ['blocked', 'blocked by p1/ws/check']);
    // mended: the task runs again; what it blocked had not changed, and stands as it was
    writeText(dir, 'src/c.txt', 'ok again\n');
    const mended = await build(dir);
    assert.equal(ran(dir), ['check']);
    assert.match(mended.stdout.trim().split('\n').pop()!, /^t: 3 tasks — 2 fresh, 0 restored, 1 ran, 0 failed/);
  } finally {
    removeProject(dir);
  }
});

test('a hinted build trusts the cached graph only if the proof was written for that very graph', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    const oldGraph = fs.readFileSync(path.join(dir, '.uet', 'graph.json'));
    // the spec changes; the build compiles it, but its cache is put back as it was (as when the
    // compile could not replace it): a graph of the old spec, under a proof of the new one
    const spec = readText(dir, 'phases/p1.yaml');
    writeText(dir, 'phases/p1.yaml', spec.replace('cat src/a.txt > out/a.txt', 'cat src/a.txt src/a.txt > out/a.txt'));
    await sleep(RACY_WAIT_MS);
    await withProof(dir);
    assert.is(readText(dir, 'out/a.txt'), 'hello\nhello\n');
    fs.writeFileSync(path.join(dir, '.uet', 'graph.json'), oldGraph);
    writeText(dir, 'src/a.txt', 'bye\n');
    await build(dir);
    assert.equal(ran(dir), ['gen', 'upper']);
    assert.is(readText(dir, 'out/a.txt'), 'bye\nbye\n', "the spec's command, not the old graph's");
    // and with the cache of the new spec, the next touch is narrowed by the hint
    writeText(dir, 'src/a.txt', 'again\n');
    await build(dir);
    assert.equal(ran(dir), ['gen', 'upper']);
    assert.is(readText(dir, 'out/A.txt'), 'AGAIN\nAGAIN\n');
    assert.match((await runUet(dir, ['runs', 'last'])).stdout, /only src\/a\.txt changed/);
  } finally {
    removeProject(dir);
  }
});

test('an input edited after the build read it leaves a proof that finds it changed: the next build decides just what it reaches', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/a.txt': 'one\n',
    'src/s.txt': 's\n',
    'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - id: a
        run: echo a >> log/runs && mkdir -p out && cat src/a.txt > out/a.txt
        inputs: [src/a.txt]
        outputs: [out/a.txt]
      - id: slow
        run: echo slow >> log/runs && sleep 1 && cat src/s.txt > out/s.txt
        inputs: [src/s.txt]
        outputs: [out/s.txt]
        depends_on: [a]
`,
    'log/': '',
  });
  try {
    await sleep(RACY_WAIT_MS);
    const running = startUet(dir, ['build']);
    // a has read src/a.txt and its success is recorded; slow (after it) is running: the edit
    // comes after the build read the file, not while a task that reads it ran
    await waitFor(() => fs.existsSync(path.join(dir, 'log/runs')) && fs.readFileSync(path.join(dir, 'log/runs'), 'utf8').includes('slow'), 10_000, 'task slow to start');
    writeText(dir, 'src/a.txt', 'two\n');
    const first = await running.finished();
    assert.is(first.code, 0, first.stderr);
    assert.equal(ran(dir), ['a', 'slow']);
    assert.ok(await proofWritten(dir), (await runUet(dir, ['runs', 'last'])).stdout);
    const r = await build(dir);
    // a reads the edited file; slow depends on a, whose output changed
    assert.equal(ran(dir), ['a', 'slow']);
    assert.match(r.stdout.trim().split('\n').pop()!, /^t: 2 tasks — 0 fresh, 0 restored, 2 ran, 0 failed/);
    const log = await runUet(dir, ['runs', 'last']);
    assert.match(log.stdout, /only src\/a\.txt changed/, 'the fast path found the edited file, and only it, changed');
    assert.is(readText(dir, 'out/a.txt'), 'two\n');
    await build(dir);
    assert.ok(await lastWasFastPath(dir), 'then a no-op from the proof');
  } finally {
    removeProject(dir);
  }
});

test('--json, --verbose, --dry-run and --force never take the fast path; other targets have their own proof', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    const json = await build(dir, ['--json']);
    const fresh = parseEvents(json.stdout).filter((e) => e['type'] === 'task-end' && e['status'] === 'fresh');
    assert.is(fresh.length, 3, 'every task reported');
    const verbose = await build(dir, ['--verbose']);
    assert.match(verbose.stdout, /p1\/ws\/gen/);
    const forced = await build(dir, ['--force']);
    assert.match(forced.stdout, /3 ran/);
    assert.equal(ran(dir), ['all', 'gen', 'upper']);

    await withProof(dir, ['p1/ws/gen']);
    const one = await build(dir, ['p1/ws/gen']);
    assert.match(one.stdout, /^p1\/ws\/gen: 1 task — 1 fresh/);
    assert.ok(await lastWasFastPath(dir));
  } finally {
    removeProject(dir);
  }
});

test('a build holding the project lock makes the next build wait rather than answer from the proof', async () => {
  const dir = await settledProject();
  try {
    await withProof(dir);
    // a live holder: this test's own process
    fs.writeFileSync(path.join(dir, '.uet', 'lock'), JSON.stringify({ pid: process.pid, hostname: (await import('node:os')).hostname(), startedAt: Date.now(), command: 'test' }));
    const pending = runUet(dir, ['build'], { timeoutMs: 20_000 });
    await sleep(1500);
    fs.rmSync(path.join(dir, '.uet', 'lock'));
    const r = await pending;
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /waiting for the project lock/);
  } finally {
    removeProject(dir);
  }
});


/** a project with one task on its own and DIRECT_PLAN_TASKS + 3 reading one shared file */
function fanOutProject(): { dir: string; fanOut: number } {
  const fanOut = DIRECT_PLAN_TASKS + 3;
  const tasks = Array.from({ length: fanOut }, (_, i) => `      - id: s${i}
        run: mkdir -p out && cat src/shared.txt > out/s${i}.txt
        inputs: [src/shared.txt]
        outputs: [out/s${i}.txt]`).join('\n');
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/shared.txt': 'shared\n',
    'src/solo.txt': 'solo\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: ws
    tasks:
      - id: solo
        run: mkdir -p out && cat src/solo.txt > out/solo.txt
        inputs: [src/solo.txt]
        outputs: [out/solo.txt]
${tasks}
`,
  });
  return { dir, fanOut };
}

/** the last run's workers (each with its states in order), and whether it was narrowed by the proof's hint */
async function lastRunWorkers(dir: string): Promise<{ workers: Map<number, string[]>; hinted: boolean }> {
  const r = await runUet(dir, ['runs', 'last', '--json']);
  assert.is(r.code, 0, r.stderr);
  const events = parseEvents(r.stdout);
  const workers = new Map<number, string[]>();
  for (const e of events.filter((x) => x['type'] === 'worker')) workers.set(e['worker'] as number, [...(workers.get(e['worker'] as number) ?? []), e['state'] as string]);
  return { workers, hinted: events.some((e) => e['type'] === 'unchanged') };
}

test('without the fork server, a hinted build with few tasks to decide spawns them itself; one with more than DIRECT_PLAN_TASKS starts the thread pool', async () => {
  const { dir, fanOut } = fanOutProject();
  const env = { UET_FORK_SERVER: '0' };
  try {
    await sleep(RACY_WAIT_MS);
    await withProof(dir, [], env);
    writeText(dir, 'src/solo.txt', 'alone\n');
    await build(dir, [], env);
    assert.is(readText(dir, 'out/solo.txt'), 'alone\n');
    const one = await lastRunWorkers(dir);
    assert.equal({ workers: one.workers.size, hinted: one.hinted }, { workers: 0, hinted: true }, 'one task: no pool');
    await sleep(RACY_WAIT_MS);
    await withProof(dir, [], env);
    writeText(dir, 'src/shared.txt', 'changed\n');
    await build(dir, ['-j', '2'], env);
    for (let i = 0; i < fanOut; i++) assert.is(readText(dir, `out/s${i}.txt`), 'changed\n');
    const wide = await lastRunWorkers(dir);
    assert.ok(wide.hinted, 'narrowed by the hint');
    assert.is(wide.workers.size, 2, `${fanOut} tasks: the pool's two workers are in the run log`);
  } finally {
    removeProject(dir);
  }
});

test('with the fork server, a build starts one lane per command running at once, up to -j, each a worker in the run log', async () => {
  const { dir, fanOut } = fanOutProject();
  try {
    await sleep(RACY_WAIT_MS);
    await withProof(dir);
    writeText(dir, 'src/solo.txt', 'alone\n');
    await build(dir, ['-j', '3']);
    assert.is(readText(dir, 'out/solo.txt'), 'alone\n');
    const one = await lastRunWorkers(dir);
    assert.ok(one.hinted, 'narrowed by the hint');
    assert.equal([...one.workers], [[1, ['spawning', 'idle', 'busy', 'idle', 'draining', 'terminated']]], 'one task: one lane');
    await sleep(RACY_WAIT_MS);
    await withProof(dir);
    writeText(dir, 'src/shared.txt', 'changed\n');
    await build(dir, ['-j', '3']);
    for (let i = 0; i < fanOut; i++) assert.is(readText(dir, `out/s${i}.txt`), 'changed\n');
    const wide = await lastRunWorkers(dir);
    assert.equal([...wide.workers.keys()].sort(), [1, 2, 3], `${fanOut} tasks at -j3: three lanes`);
    const busy = [...wide.workers.values()].flat().filter((s) => s === 'busy').length;
    assert.is(busy, fanOut, 'every task ran on a lane');
    for (const states of wide.workers.values()) assert.equal(states.slice(-2), ['draining', 'terminated']);
  } finally {
    removeProject(dir);
  }
});

test('with the fork server, a hinted build of a handful of tasks runs them on one lane, still up to -j at once', async () => {
  // each task marks that it started, then waits for all three marks: run one after another, the first would give up
  const waiter = (i: number): string => `      - id: w${i}
        run: mkdir -p out marks && touch marks/w${i} && n=0 && while [ $(ls marks | wc -l) -lt 3 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done && [ $(ls marks | wc -l) -ge 3 ] && cat src/f.txt > out/w${i}.txt
        inputs: [src/f.txt]
        outputs: [out/w${i}.txt]`;
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/f.txt': 'one\n',
    'phases/p.yaml': `id: p\nworkstreams:\n  - id: ws\n    tasks:\n${[0, 1, 2].map(waiter).join('\n')}\n`,
  });
  try {
    await sleep(RACY_WAIT_MS);
    await withProof(dir, ['-j', '3']);
    fs.rmSync(path.join(dir, 'marks'), { recursive: true });
    writeText(dir, 'src/f.txt', 'two\n');
    await build(dir, ['-j', '3']);
    for (const i of [0, 1, 2]) assert.is(readText(dir, `out/w${i}.txt`), 'two\n');
    const few = await lastRunWorkers(dir);
    assert.ok(few.hinted, 'narrowed by the hint');
    assert.equal([...few.workers.keys()], [1], 'three tasks: one lane');
    assert.is(few.workers.get(1)!.filter((s) => s === 'busy').length, 3, 'every task ran on it');
  } finally {
    removeProject(dir);
  }
});

test.run();
