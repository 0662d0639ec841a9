/**
 * `uet serve` end to end: a real resident process, real `uet build` clients in other
 * processes, real tasks. Every wait is on output or a file, never on time alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCommandAt } from '../lib/cli/noop-fast-path.js';
import { jsonLines } from '../lib/cli/serve-protocol.js';
import type { RunResult, RunningUet } from './helpers/project.js';
import { CHAIN, collect, isAlive, killGroup, makeChainProject, makeProject, parseEvents, readText, removeProject, runUet, spawnUet, startUet, waitFor, writeText } from './helpers/project.js';

const WAIT_MS = 20_000;

test('buildCommandAt: where a build command is and its folder, whatever its flags; nothing for other commands', () => {
  assert.equal(buildCommandAt(['build']), { index: 0 });
  assert.equal(buildCommandAt(['-C', 'sub', 'build', '--json', 'p']), { index: 2, dir: 'sub' });
  assert.equal(buildCommandAt(['--dir=sub', 'build', '--dry-run']), { index: 1, dir: 'sub' });
  assert.is(buildCommandAt(['watch']), undefined);
  assert.is(buildCommandAt(['--json', 'build']), undefined, 'a flag before the command is not a build');
  assert.is(buildCommandAt([]), undefined);
});

test('jsonLines: messages split across chunks, several in one chunk, garbage skipped', () => {
  const got: unknown[] = [];
  const feed = jsonLines<unknown>((m) => got.push(m));
  feed('{"out":"a');
  feed('b"}\n{"err":"c"}\nnot json\n{"exit"');
  assert.equal(got, [{ out: 'ab' }, { err: 'c' }]);
  feed(':3}\n');
  assert.equal(got, [{ out: 'ab' }, { err: 'c' }, { exit: 3 }]);
});

/** A running `uet serve`, with its output read as it comes. */
interface Serving extends RunningUet {
  /** the lines saying a build was served */
  served(): string[];
}

async function serve(dir: string, args: readonly string[] = []): Promise<Serving> {
  const running = startUet(dir, ['serve', ...args]);
  await waitFor(() => running.stdout().includes('serving the builds of'), WAIT_MS, `uet serve to listen; stderr: ${running.stderr()}`);
  return { ...running, served: () => running.stdout().split('\n').filter((l) => / uet build.* → exit /.test(l)) };
}

/** the server has logged `n` served builds (its log line may reach us just after the shell's answer) */
async function servedCount(s: Serving, n: number): Promise<void> {
  await waitFor(() => s.served().length >= n, WAIT_MS, `${n} builds in the server's log: ${s.stdout()}`);
  assert.is(s.served().length, n, s.stdout());
}

/** Runs `body` with a `uet serve` running in `dir`; kills it and removes the project afterwards, whatever happens. */
async function serving(dir: string, body: (s: Serving) => Promise<void>, args: readonly string[] = []): Promise<void> {
  let s: Serving | undefined;
  try {
    s = await serve(dir, args);
    await body(s);
  } finally {
    s?.child.kill('SIGKILL');
    removeProject(dir);
  }
}

/** every run's events, oldest first */
function runLogs(dir: string): Record<string, unknown>[][] {
  const runs = fs.readdirSync(path.join(dir, '.uet', 'runs')).filter((f) => f.endsWith('.jsonl')).sort();
  return runs.map((f) => parseEvents(readText(dir, `.uet/runs/${f}`)));
}

/** the run-start event of the newest run */
function lastRunStart(dir: string): Record<string, unknown> {
  return runLogs(dir).at(-1)![0]!;
}

test('a build while uet serve runs is run by it: its output, exit code and run log; an edit re-runs only what it reaches', async () => {
  const dir = makeChainProject();
  await serving(dir, async (s) => {
    const serverPid = s.child.pid!;
    const first = await runUet(dir, ['build']);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /3 tasks — 0 fresh, 0 restored, 3 ran, 0 failed/);
    await servedCount(s, 1);
    assert.is(lastRunStart(dir)['pid'], serverPid, 'the server ran it');
    assert.equal(lastRunStart(dir)['argv'], ['build'], 'the run log has the asking command line');
    assert.is(readText(dir, 'out/a2.txt'), 'ONE\n');

    writeText(dir, 'src/a.txt', 'two\n');
    const edited = await runUet(dir, ['build']);
    assert.is(edited.code, 0, edited.stderr);
    assert.match(edited.stdout, /ran\s+p\/w\/a\b/);
    assert.match(edited.stdout, /ran\s+p\/w\/a2\b/);
    assert.not.match(edited.stdout, /p\/w\/b/);
    assert.match(edited.stdout, /3 tasks — 1 fresh, 0 restored, 2 ran, 0 failed/);
    assert.is(readText(dir, 'out/a2.txt'), 'TWO\n');

    // two shells at once: one after the other, both answered
    const [x, y] = await Promise.all([runUet(dir, ['build', '--quiet']), runUet(dir, ['build', 'p/w/b'])]);
    assert.is(x.code, 0, x.stderr);
    assert.is(y.code, 0, y.stderr);
    assert.match(x.stdout, /3 tasks — 3 fresh/);
    assert.match(y.stdout, /1 task — 1 fresh/);
    await servedCount(s, 4);
    // The edit's shell was answered before its build wrote the next no-op proof and ended its
    // run log; the next build still started after that: it was answered from that proof.
    const logs = runLogs(dir);
    const editRun = logs[1]!;
    assert.ok(editRun.some((e) => e['type'] === 'task-end' && e['task'] === 'p/w/a2' && e['status'] === 'ran'), 'the edit\'s run');
    assert.equal(editRun.slice(-2).map((e) => e['type']), ['proof-written', 'run-end'], 'its bookkeeping came after the answer, and was done');
    assert.is(editRun.at(-2)!['written'], true);
    assert.ok(logs.at(-2)!.some((e) => e['type'] === 'noop-proof') || logs.at(-1)!.some((e) => e['type'] === 'noop-proof'), 'a build after it was answered from its proof');

    const stopped = await s.stop();
    assert.is(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /stopped serving/);
    assert.not.ok(fs.existsSync(path.join(dir, '.uet', 'serve.json')), 'its address is gone');
    assert.not.ok(fs.existsSync(path.join(dir, '.uet', 'lock')), 'the lock is released');
    // on its own again
    const alone = await runUet(dir, ['build', '--verbose']);
    assert.is(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, /3 tasks — 3 fresh/);
    assert.is.not(lastRunStart(dir)['pid'], serverPid);
  });
});

test('a served build says what a build says: a failure and its output, --json events, a bad target', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: ok
        run: "echo fine"
      - id: bad
        run: "echo broken-output-here; exit 3"
`,
  });
  await serving(dir, async (s) => {
    const failed = await runUet(dir, ['build']);
    assert.is(failed.code, 1, failed.stderr);
    assert.match(failed.stdout + failed.stderr, /broken-output-here/);
    assert.match(failed.stdout, /1 failed/);

    const json = await runUet(dir, ['build', '--json', '--keep-going']);
    assert.is(json.code, 1, json.stderr);
    const types = parseEvents(json.stdout).map((e) => e['type']);
    assert.ok(types.includes('run-start') && types.includes('task-end') && types.includes('run-end'), types.join(','));

    const unknown = await runUet(dir, ['build', 'p/nosuch']);
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, /nosuch/);
    await servedCount(s, 3);
  });
});

test('a spec edited between served builds is loaded again', async () => {
  const dir = makeChainProject();
  await serving(dir, async (s) => {
    assert.is((await runUet(dir, ['build'])).code, 0);
    writeText(dir, 'phases/p.yaml', `${CHAIN}      - id: c
        run: "mkdir -p out; echo see > out/c.txt"
        outputs: [out/c.txt]
`);
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /4 tasks — 3 fresh, 0 restored, 1 ran/);
    assert.is(readText(dir, 'out/c.txt'), 'see\n');
    writeText(dir, 'phases/p.yaml', 'id: p\nworkstreams: [oops\n');
    const broken = await runUet(dir, ['build']);
    assert.is(broken.code, 2, broken.stdout);
    assert.match(broken.stderr, /phases\/p\.yaml:\d+/);
  });
});

/**
 * A served build, once the server has also done its bookkeeping (the shell is answered before
 * the next proof is written): the next edit then comes after it, and what the change events
 * tell the next check is what is tested, not a race with the proof's writing.
 */
async function servedBuild(dir: string): Promise<RunResult> {
  const r = await runUet(dir, ['build']);
  const ended = (): boolean => {
    try {
      return runLogs(dir).at(-1)?.at(-1)?.['type'] === 'run-end';
    } catch {
      return false; // read mid-line: not ended
    }
  };
  await waitFor(ended, WAIT_MS, 'the served build to end its run log');
  return r;
}

/** edits a served build must see: a rewrite of the same size, a folder replaced; then a no-op from the proof */
async function servedEditsAreSeen(dir: string): Promise<void> {
  assert.is((await servedBuild(dir)).code, 0);
  for (const text of ['two\n', 'six\n']) {
    writeText(dir, 'src/a.txt', text);
    const r = await servedBuild(dir);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /3 tasks — 1 fresh, 0 restored, 2 ran/);
    assert.is(readText(dir, 'out/a2.txt'), text.toUpperCase());
  }
  // the folder replaced by another with the same names: a watch on the old one sees nothing
  fs.rmSync(path.join(dir, 'src'), { recursive: true });
  writeText(dir, 'src/a.txt', 'ten\n');
  writeText(dir, 'src/b.txt', 'bee\n');
  const replaced = await servedBuild(dir);
  assert.is(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stdout, /3 tasks — 1 fresh, 0 restored, 2 ran/);
  assert.is(readText(dir, 'out/a2.txt'), 'TEN\n');
  // and what changes in the new folder afterwards
  writeText(dir, 'src/a.txt', 'owl\n');
  const inNew = await servedBuild(dir);
  assert.match(inNew.stdout, /3 tasks — 1 fresh, 0 restored, 2 ran/);
  assert.is(readText(dir, 'out/a2.txt'), 'OWL\n');
  fs.rmSync(path.join(dir, 'out/b.txt'));
  const deleted = await servedBuild(dir);
  assert.match(deleted.stdout, /3 tasks — 2 fresh, 1 restored, 0 ran/, 'a deleted output is restored');
  assert.is(readText(dir, 'out/b.txt'), 'bee\n');
  const noop = await servedBuild(dir);
  assert.match(noop.stdout, /3 tasks — 3 fresh/);
  assert.ok(runLogs(dir).at(-1)!.some((e) => e['type'] === 'noop-proof'), 'answered from the proof');
}

test('served builds see each change the kernel reports (a same-size rewrite, a folder replaced, a deletion)', async () => {
  const dir = makeChainProject();
  await serving(dir, async (s) => {
    assert.match(s.stdout(), /change events: on/);
    await servedEditsAreSeen(dir);
  });
});

test('uet serve --no-watch stats every path, and sees the same', async () => {
  const dir = makeChainProject();
  await serving(
    dir,
    async (s) => {
      assert.match(s.stdout(), /change events: turned off \(--no-watch\)/);
      await servedEditsAreSeen(dir);
    },
    ['--no-watch'],
  );
});

test('Ctrl-C in the asking shell interrupts the served build, and the server serves on', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "echo $$ > slow.pid; sleep 30"
`,
  });
  await serving(dir, async (s) => {
    const client = spawnUet(dir, ['build']);
    const result = collect(client);
    await waitFor(() => fs.existsSync(path.join(dir, 'slow.pid')) && readText(dir, 'slow.pid').trim() !== '', WAIT_MS, 'the task to start');
    const taskPid = Number(readText(dir, 'slow.pid').trim());
    // as a terminal does: the client's whole process group (the task is the server's, not in it)
    killGroup(client, 'SIGINT');
    killGroup(client, 'SIGINT');
    const r = await result;
    assert.is(r.code, 130, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /interrupted/);
    await waitFor(() => !isAlive(taskPid), WAIT_MS, 'the task to be killed');
    await waitFor(() => s.served().length === 1, WAIT_MS, 'the server to log the build');
    assert.match(s.served()[0]!, /→ exit 130/);
    writeText(dir, 'phases/p.yaml', 'id: p\nworkstreams:\n  - id: w\n    tasks:\n      - id: quick\n        run: "true"\n');
    const next = await runUet(dir, ['build']);
    assert.is(next.code, 0, next.stderr);
    assert.ok(isAlive(s.child.pid!));
  });
});

test('a build of another uet than the server\'s is not handed to it: it says so and waits for the lock', async () => {
  const dir = makeChainProject();
  await serving(dir, async (s) => {
    const infoPath = path.join(dir, '.uet', 'serve.json');
    fs.writeFileSync(infoPath, JSON.stringify({ ...JSON.parse(readText(dir, '.uet/serve.json')), uet: 'another-uet' }));
    const client = spawnUet(dir, ['build']);
    const result = collect(client);
    let err = '';
    client.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor(() => err.includes('waiting for the project lock'), WAIT_MS, `the build to wait; stderr: ${err}`);
    assert.match(err, new RegExp(`uet serve \\(pid ${s.child.pid}\\) runs another build of uet`));
    assert.is((await s.stop()).code, 130);
    const r = await result;
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /3 ran/);
    assert.is(s.served().length, 0, 'the server built nothing');
  });
});

test('a server killed with -9 blocks nothing: the next build takes the lock over; a second server refuses', async () => {
  const dir = makeChainProject();
  await serving(dir, async (s) => {
    const again = await runUet(dir, ['serve'], { timeoutMs: WAIT_MS });
    assert.is(again.code, 1, again.stdout);
    assert.match(again.stderr, new RegExp(`uet serve \\(pid ${s.child.pid}\\) already serves`));
    s.child.kill('SIGKILL');
    await waitFor(() => !isAlive(s.child.pid!), WAIT_MS, 'the server to die');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /3 ran/);
    const s2 = await serve(dir);
    try {
      const served = await runUet(dir, ['build']);
      assert.is(served.code, 0, served.stderr);
      await servedCount(s2, 1);
    } finally {
      s2.child.kill('SIGKILL');
    }
  });
});

test.run();
