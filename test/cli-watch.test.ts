/**
 * `uet watch` end to end: a real watcher on real files, real task processes. Every wait is on
 * a file or an event the CLI printed, never on time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningUet } from './helpers/project.js';
import { CHAIN, collect, countLines, isAlive, makeChainProject, makeProject, parseEvents, readText, removeProject, spawnUet, startUet, UET_BIN, waitFor, writeText } from './helpers/project.js';

const WAIT_MS = 20_000;

/** A running `uet watch --json`, with its output read as it comes. */
interface Watching extends RunningUet {
  events(): Array<Record<string, unknown>>;
  count(type: string): number;
  /** waits until `type` has been printed n times in all */
  until(type: string, n: number): Promise<void>;
}

function watch(dir: string, args: string[] = [], child: ChildProcess = spawnUet(dir, ['watch', '--json', ...args])): Watching {
  const running = startUet(dir, [], child);
  const out = running.stdout;
  const events = (): Array<Record<string, unknown>> => parseEvents(out().slice(0, out().lastIndexOf('\n') + 1));
  const count = (type: string): number => events().filter((e) => e['type'] === type).length;
  return {
    ...running,
    events,
    count,
    until: (type, n) => waitFor(() => count(type) >= n, WAIT_MS, `${n} × ${type}; stdout so far:\n${out()}\nstderr:\n${running.stderr()}`),
  };
}

/** how many tasks each run decided (its plan) */
function runSizes(w: Watching): number[] {
  return w
    .events()
    .filter((e) => e['type'] === 'run-start')
    .map((e) => Number(e['tasks']));
}

function tasksRun(w: Watching): string[] {
  return w
    .events()
    .filter((e) => e['type'] === 'task-start')
    .map((e) => String(e['task']));
}

test('an edit re-runs the task reading it and its dependents, nothing else; an unchanged save re-runs nothing', async () => {
  const dir = makeChainProject();
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    assert.equal(tasksRun(w).sort(), ['p/w/a', 'p/w/a2', 'p/w/b']);
    writeText(dir, 'src/a.txt', 'two\n');
    await w.until('watch-idle', 2);
    assert.equal(tasksRun(w).slice(3), ['p/w/a', 'p/w/a2']);
    assert.is(readText(dir, 'out/a2.txt'), 'TWO\n');
    const change = w.events().filter((e) => e['type'] === 'watch-change')[0]!;
    assert.equal(change['files'], ['src/a.txt']);
    // saved with the same content: considered, and fresh
    writeText(dir, 'src/a.txt', 'two\n');
    await w.until('watch-idle', 3);
    assert.is(tasksRun(w).length, 5, 'nothing ran');
    const last = w.events().filter((e) => e['type'] === 'run-end').pop()!;
    assert.is((last['counts'] as Record<string, number>)['fresh'], 2);
    const r = await w.stop();
    assert.is(r.code, 130, r.stderr);
  } finally {
    w.child.kill('SIGKILL');
    removeProject(dir);
  }
});

test('50 saves in a burst make one run that sees all of them', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`src/f${String(i).padStart(2, '0')}.txt`] = `old ${i}\n`;
  const dir = makeProject({
    ...files,
    'uet.config.yaml': 'version: 1\nwatch: { debounce: 300ms }\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: all
        run: "mkdir -p out; cat src/*.txt > out/all.txt"
        inputs: ["src/*.txt"]
        outputs: [out/all.txt]
`,
  });
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    for (let i = 0; i < 50; i++) writeText(dir, `src/f${String(i).padStart(2, '0')}.txt`, `new ${i}\n`);
    await w.until('watch-idle', 2);
    assert.is(w.count('run-start'), 2, 'one run for the burst');
    const change = w.events().find((e) => e['type'] === 'watch-change')!;
    assert.is((change['files'] as string[]).length, 50);
    const all = readText(dir, 'out/all.txt');
    for (let i = 0; i < 50; i++) assert.ok(all.includes(`new ${i}\n`), `the run saw save ${i}`);
    assert.not.ok(all.includes('old'));
  } finally {
    await w.stop();
    removeProject(dir);
  }
});

/** Run 2 (the first one after the initial build) waits for a `go` file; the others do not. */
const SLOW_SECOND_RUN = `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "n=$(cat runs.log 2>/dev/null | wc -l); echo $$ >> runs.log; if [ $n -eq 1 ]; then while [ ! -f go ]; do sleep 0.05; done; fi; mkdir -p out; cat src/a.txt > out/a.txt"
        inputs: [src/a.txt]
        outputs: [out/a.txt]
`;

test('queue: a change during a run gives exactly one more run, after it', async () => {
  const dir = makeProject({ 'uet.config.yaml': 'version: 1\nwatch: { on_change: queue }\n', 'src/a.txt': 'v1\n', 'phases/p.yaml': SLOW_SECOND_RUN });
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    writeText(dir, 'src/a.txt', 'v2\n');
    await waitFor(() => countLines(dir, 'runs.log') === 2, WAIT_MS, 'the second run to start');
    const second = Number(readText(dir, 'runs.log').trim().split('\n')[1]);
    writeText(dir, 'src/a.txt', 'v3\n');
    await w.until('watch-change', 2);
    writeText(dir, 'src/a.txt', 'v4\n');
    await w.until('watch-change', 3);
    assert.ok(isAlive(second), 'queue lets the running task finish');
    writeText(dir, 'go', '');
    await w.until('watch-idle', 2);
    assert.is(countLines(dir, 'runs.log'), 3, 'exactly one more run');
    assert.is(w.count('run-start'), 3);
    assert.is(readText(dir, 'out/a.txt'), 'v4\n');
  } finally {
    await w.stop();
    removeProject(dir);
  }
});

test('restart: a change during a run kills the affected task tree and starts it again', async () => {
  const dir = makeProject({ 'uet.config.yaml': 'version: 1\nwatch: { on_change: restart }\n', 'src/a.txt': 'v1\n', 'phases/p.yaml': SLOW_SECOND_RUN });
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    writeText(dir, 'src/a.txt', 'v2\n');
    await waitFor(() => countLines(dir, 'runs.log') === 2, WAIT_MS, 'the second run to start');
    const second = Number(readText(dir, 'runs.log').trim().split('\n')[1]);
    assert.ok(isAlive(second));
    writeText(dir, 'src/a.txt', 'v3\n');
    await waitFor(() => !isAlive(second), WAIT_MS, 'the superseded task to be killed');
    await w.until('watch-idle', 2);
    assert.is(countLines(dir, 'runs.log'), 3, 'started again');
    assert.is(readText(dir, 'out/a.txt'), 'v3\n');
    const skipped = w.events().find((e) => e['type'] === 'task-end' && e['status'] === 'skipped');
    assert.is(skipped?.['reason'], 'superseded by a change');
    assert.not.ok(fs.existsSync(path.join(dir, 'go')));
  } finally {
    await w.stop();
    removeProject(dir);
  }
});

test('a task writing its own output does not trigger again; one writing its own input does not loop', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\n',
    'src/a.txt': 'a\n',
    'log/grow.txt': 'start\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: gen
        run: "echo ran >> gen-runs.log; mkdir -p src/gen; cat src/a.txt > src/gen/out.txt"
        inputs: ["src/**"]
        outputs: [src/gen/out.txt]
      - id: grow
        run: "echo more >> log/grow.txt"
        inputs: [log/grow.txt]
`,
  });
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    // grow's first run changed its own input; it runs once more, changes it again, and is
    // then held as failed until something else changes the file
    const caught = (): number => w.events().findIndex((e) => e['type'] === 'task-end' && e['task'] === 'p/w/grow' && String(e['reason']).includes('changes its own inputs'));
    await waitFor(() => caught() >= 0, WAIT_MS, 'the loop to be caught');
    await waitFor(() => w.events().some((e, i) => i > caught() && e['type'] === 'watch-idle'), WAIT_MS, 'quiet after it');
    assert.is(tasksRun(w).filter((t) => t === 'p/w/grow').length, 2);
    assert.is(countLines(dir, 'log/grow.txt'), 3, 'start + two runs');
    const idles = w.count('watch-idle');
    writeText(dir, 'src/a.txt', 'b\n');
    await w.until('watch-idle', idles + 1);
    assert.is(countLines(dir, 'gen-runs.log'), 2, 'its own output did not trigger it');
    assert.is(readText(dir, 'src/gen/out.txt'), 'b\n');
    // an edit by someone else makes grow run again
    writeText(dir, 'log/grow.txt', 'reset\n');
    await waitFor(() => tasksRun(w).filter((t) => t === 'p/w/grow').length >= 3, WAIT_MS, 'grow to run after an outside edit');
  } finally {
    await w.stop();
    removeProject(dir);
  }
});

test('a spec edit compiles again; a broken spec keeps watching with the last good graph', async () => {
  const dir = makeChainProject();
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    writeText(dir, 'phases/p.yaml', CHAIN.replace('cat src/a.txt > out/a.txt', 'cat src/a.txt src/a.txt > out/a.txt'));
    await w.until('watch-idle', 2);
    assert.is(readText(dir, 'out/a2.txt'), 'ONE\nONE\n');
    assert.equal(tasksRun(w).slice(3), ['p/w/a', 'p/w/a2'], 'only the task whose command changed, and its dependent');
    assert.is(w.events().filter((e) => e['type'] === 'watch-change')[0]!['spec'], true);
    assert.equal(runSizes(w), [3, 2], 'the run decided the redefined task and its dependent, not b');
    // a comment: compiled again, nothing redefined, nothing to decide
    writeText(dir, 'phases/p.yaml', `${readText(dir, 'phases/p.yaml')}# a note\n`);
    await w.until('watch-change', 2);
    await waitFor(() => w.count('watch-idle') >= 3 || runSizes(w).length > 2, WAIT_MS, 'the comment handled');
    assert.equal(runSizes(w), [3, 2]);

    const idle = w.count('watch-idle');
    writeText(dir, 'phases/p.yaml', 'id: p\nworkstreams: [\n');
    await w.until('watch-spec-error', 1);
    const errors = w.events().find((e) => e['type'] === 'watch-spec-error')!['errors'] as string[];
    assert.match(errors.join('\n'), /phases\/p\.yaml:\d+:\d+ E_/);
    await w.until('watch-idle', idle + 1);
    writeText(dir, 'src/b.txt', 'bus\n');
    await w.until('watch-idle', idle + 2);
    assert.is(readText(dir, 'out/b.txt'), 'bus\n', 'still built with the last good graph');

    // the good spec back: compared with the last good graph, a's command is what changed
    writeText(dir, 'phases/p.yaml', CHAIN);
    await w.until('watch-idle', idle + 3);
    assert.is(readText(dir, 'out/a2.txt'), 'ONE\n');
    assert.equal(runSizes(w).slice(-2), [1, 2], "b's run, then a and a2");
  } finally {
    await w.stop();
    removeProject(dir);
  }
});

test('Ctrl-C while a task runs: exits 130 and leaves no process behind', async () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "sh -c 'echo $$ > child.pid; sleep 60' & echo $$ > task.pid; wait"
        inputs: []
`,
  });
  const w = watch(dir);
  try {
    await waitFor(() => fs.existsSync(path.join(dir, 'child.pid')) && fs.existsSync(path.join(dir, 'task.pid')), WAIT_MS, 'the task to start');
    const pids = [readText(dir, 'task.pid'), readText(dir, 'child.pid')].map((s) => Number(s.trim()));
    const r = await w.stop('SIGINT');
    assert.is(r.code, 130, r.stderr);
    for (const pid of pids) await waitFor(() => !isAlive(pid), WAIT_MS, `process ${pid} to be gone`);
    assert.not.ok(isAlive(w.child.pid!));
  } finally {
    w.child.kill('SIGKILL');
    removeProject(dir);
  }
});

test('a build while watching waits for the lock, naming the watch and what to run instead', async () => {
  const dir = makeChainProject();
  const w = watch(dir);
  try {
    await w.until('watch-idle', 1);
    const build = spawnUet(dir, ['build']);
    let err = '';
    build.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    await waitFor(() => err.includes('hint:'), WAIT_MS, `the build to say it waits; stderr: ${err}`);
    assert.match(err, new RegExp(`waiting for the project lock: held by pid ${w.child.pid} \\(uet\\.js watch`));
    assert.match(err, /use uet serve instead/);
    build.kill('SIGKILL');
  } finally {
    w.child.kill('SIGKILL');
    removeProject(dir);
  }
});

test('q quits cleanly (exit 0) and stops watching', async () => {
  const dir = makeChainProject();
  // stdin stays open here (spawnUet closes it): the user types q and Enter
  const child = spawn(process.execPath, [UET_BIN, 'watch'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const done = collect(child);
  try {
    let out = '';
    child.stdout!.on('data', (s: Buffer) => (out += s.toString()));
    await waitFor(() => out.includes('watching 4 files'), WAIT_MS, 'the first build');
    assert.match(out, /: 3 tasks — 0 fresh, 0 restored, 3 ran, 0 failed/);
    child.stdin!.write('q\n');
    const r = await done;
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /stopped watching/);
  } finally {
    child.kill('SIGKILL');
    removeProject(dir);
  }
});

test.run();
