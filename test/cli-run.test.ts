/**
 * Running: limits honoured at run time (max_parallel, conflict_group, parallel_ok), the task
 * environment, Ctrl-C, inputs changed while a task runs, logs, and the demo project.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collect, isAlive, readText, REPO_ROOT, runUet, spawnUet, UET_BIN, waitFor, writeText, withProject } from './helpers/project.js';

/** A task that records when it started and ended (ns) in spans.log. */
function spanTask(id: string, extra = ''): string {
  return `      - id: ${id}
        run: "echo ${id} start $(date +%s%N) >> spans.log; sleep 0.3; echo ${id} end $(date +%s%N) >> spans.log"
${extra}`;
}

interface Span {
  readonly id: string;
  readonly start: bigint;
  readonly end: bigint;
}

function spans(dir: string): Span[] {
  const byId = new Map<string, { start?: bigint; end?: bigint }>();
  for (const line of readText(dir, 'spans.log').trim().split('\n')) {
    const [id, what, t] = line.split(' ');
    const s = byId.get(id!) ?? {};
    if (what === 'start') s.start = BigInt(t!);
    else s.end = BigInt(t!);
    byId.set(id!, s);
  }
  return [...byId].map(([id, s]) => ({ id, start: s.start!, end: s.end! }));
}

/** The most spans running at one moment. */
function maxOverlap(list: readonly Span[]): number {
  let best = 0;
  for (const a of list) best = Math.max(best, list.filter((b) => b.start <= a.start && a.start < b.end).length);
  return best;
}

function overlaps(a: Span, b: Span): boolean {
  return a.start < b.end && b.start < a.end;
}

test('-j and a phase max_parallel cap how many tasks run at once', async () => {
  const tasks = ['a', 'b', 'c', 'd'].map((id) => spanTask(id)).join('');
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p\nworkstreams:\n  - id: w\n    tasks:\n${tasks}`,
    'phases/q.yaml': `id: q\nmax_parallel: 1\nworkstreams:\n  - id: w\n    tasks:\n${['e', 'f', 'g'].map((id) => spanTask(id)).join('')}`,
  }, async (dir) => {
    const r = await runUet(dir, ['build', 'p', '-j', '3']);
    assert.is(r.code, 0, r.stderr);
    const p = spans(dir);
    assert.is(p.length, 4);
    assert.is(maxOverlap(p), 3, 'with -j 3 three of four tasks run together');
    fs.rmSync(path.join(dir, 'spans.log'));
    const q = await runUet(dir, ['build', 'q', '-j', '3']);
    assert.is(q.code, 0, q.stderr);
    assert.is(maxOverlap(spans(dir)), 1, 'max_parallel: 1 runs the phase one task at a time');
  });
});

test('conflict_group: a workstream holding the group while it waits on another member of it lets that one run, with a warning', async () => {
  await withProject(
    {
      'uet.config.yaml': 'version: 1\n',
      'phases/s.yaml': `id: s
workstreams:
  - id: a
    conflict_group: g
    tasks:
${spanTask('a1')}${spanTask('a2', '        depends_on: [s/b/b1]\n')}  - id: b
    conflict_group: g
    tasks:
${spanTask('b1', '        depends_on: [s/a/a1]\n')}`,
    },
    async (dir) => {
      const r = await runUet(dir, ['build', 's', '-j', '2'], { timeoutMs: 30_000 });
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr + r.stdout, /conflict group stalled; running s\/b\/b1 anyway/);
      const s = new Map(spans(dir).map((x) => [x.id, x]));
      assert.ok(s.get('a1')!.end <= s.get('b1')!.start && s.get('b1')!.end <= s.get('a2')!.start, 'a1, b1, a2 in order');
    },
  );
});

test('conflict_group: one workstream of a group at a time; parallel_ok: false runs alone', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: one
    conflict_group: grammar
    tasks:
${spanTask('one1')}${spanTask('one2', '        depends_on: [one1]\n')}  - id: two
    conflict_group: grammar
    tasks:
${spanTask('two1')}  - id: free
    tasks:
${spanTask('free1')}`,
    'phases/q.yaml': `id: q
workstreams:
  - id: alone
    parallel_ok: false
    tasks:
${spanTask('alone1')}  - id: x
    tasks:
${spanTask('x1')}${spanTask('x2')}`,
  }, async (dir) => {
    const r = await runUet(dir, ['build', 'p', '-j', '4']);
    assert.is(r.code, 0, r.stderr);
    const s = new Map(spans(dir).map((x) => [x.id, x]));
    const two = s.get('two1')!;
    // 'two' never overlaps any task of 'one' (not even between one1 and one2).
    assert.not.ok(overlaps(two, s.get('one1')!) || overlaps(two, s.get('one2')!));
    assert.ok(two.end <= s.get('one1')!.start || two.start >= s.get('one2')!.end, 'the group is held for the whole workstream');
    assert.ok(overlaps(s.get('free1')!, s.get('one1')!) || overlaps(s.get('free1')!, two), 'other work runs beside the group');
    fs.rmSync(path.join(dir, 'spans.log'));
    const q = await runUet(dir, ['build', 'q', '-j', '4']);
    assert.is(q.code, 0, q.stderr);
    const t = new Map(spans(dir).map((x) => [x.id, x]));
    assert.not.ok(overlaps(t.get('alone1')!, t.get('x1')!) || overlaps(t.get('alone1')!, t.get('x2')!));
    assert.ok(overlaps(t.get('x1')!, t.get('x2')!), 'the others still run in parallel');
  });
});

test('a task sees only the declared environment', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\nenv:\n  pass: [VISIBLE]\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: env
        run: "env | sort > env.txt"
        env: { hash: [HASHED], set: { FIXED: "yes" } }
`,
  }, async (dir) => {
    const r = await runUet(dir, ['build'], { env: { VISIBLE: 'v', HASHED: 'h', SECRET: 's' } });
    assert.is(r.code, 0, r.stderr);
    const names = readText(dir, 'env.txt')
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0]!)
      .filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n)); // set by the shell itself
    assert.equal(names.sort(), ['FIXED', 'HASHED', 'HOME', 'PATH', 'UET_TASK', 'VISIBLE']);
    assert.match(readText(dir, 'env.txt'), /UET_TASK=p\/w\/env/);
  });
});

test('Ctrl-C stops the running tasks, records nothing false, exits 130', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "echo $$ > slow.pid; mkdir -p out; echo partial > out/x.txt; sleep 30; echo done > out/x.txt"
        inputs: []
        outputs: [out/x.txt]
      - id: after
        run: "echo after >> runs.log"
        inputs: []
        depends_on: [slow]
`,
  }, async (dir) => {
    const child = spawnUet(dir, ['build']);
    const done = collect(child);
    await waitFor(() => fs.existsSync(path.join(dir, 'slow.pid')), 10_000, 'the task started');
    const pid = Number(readText(dir, 'slow.pid').trim());
    child.kill('SIGINT');
    const r = await done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.not.ok(fs.existsSync(path.join(dir, 'runs.log')), 'nothing after the interrupted task ran');
    await waitFor(() => !isAlive(pid), 5_000, 'the task process to die');
    // The interrupted task is not fresh: the next build runs it again.
    writeText(dir, 'phases/p.yaml', readText(dir, 'phases/p.yaml').replace('sleep 30; ', ''));
    const again = await runUet(dir, ['build']);
    assert.is(again.code, 0, again.stderr);
    assert.is(readText(dir, 'out/x.txt'), 'done\n');
    const runs = await runUet(dir, ['runs']);
    assert.match(runs.stdout, /interrupted/);
  });
});


test('an input changed while its task ran: the result is not recorded and runs again', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'src/in.txt': 'one\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: t
        run: "echo t >> runs.log; cat src/in.txt > out.txt; test -f edited || { echo two > src/in.txt; touch edited; }"
        inputs: [src/in.txt]
        outputs: [out.txt]
`,
  }, async (dir) => {
    const first = await runUet(dir, ['build']);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /input src\/in.txt changed while it ran/);
    const second = await runUet(dir, ['build']);
    assert.match(second.stdout, /1 ran/);
    assert.is(readText(dir, 'out.txt'), 'two\n');
    const third = await runUet(dir, ['build']);
    assert.match(third.stdout, /1 fresh/);
    assert.is(readText(dir, 'runs.log'), 't\nt\n');
  });
});

test('--replay-logs prints the saved log of a restored task', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': 'id: p\nworkstreams:\n  - id: w\n    tasks:\n      - { id: t, run: "echo hello from t; echo x > o.txt", inputs: [], outputs: [o.txt] }\n',
  }, async (dir) => {
    await runUet(dir, ['build']);
    fs.rmSync(path.join(dir, 'o.txt'));
    const quiet = await runUet(dir, ['build']);
    assert.match(quiet.stdout, /restored\s+p\/w\/t/);
    assert.not.match(quiet.stdout, /hello from t/);
    fs.rmSync(path.join(dir, 'o.txt'));
    const replay = await runUet(dir, ['build', '--replay-logs']);
    assert.match(replay.stdout, /p\/w\/t \| hello from t/);
  });
});

test('the demo project builds, rebuilds nothing, and its failing branch blocks what follows', async () => {
  await withProject({}, async (dir) => {
    fs.cpSync(path.join(REPO_ROOT, 'examples/demo'), dir, {
      recursive: true,
      filter: (src) => !/[/\\](\.uet|cache|dist|gen|out)$/.test(src),
    });
    const first = await runUet(dir, ['build']);
    assert.is(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout.trim().split('\n').pop()!, /^phase-3: \d+ tasks — 0 fresh, 0 restored, \d+ ran, 0 failed/);
    assert.ok(fs.existsSync(path.join(dir, 'out/bundle.txt')) || fs.readdirSync(path.join(dir, 'out')).length > 0);
    const second = await runUet(dir, ['build']);
    assert.match(second.stdout.trim().split('\n').pop()!, / 0 ran, 0 failed/);
    const failing = await runUet(dir, ['build'], { env: { DEMO_FAIL: '1' } });
    assert.is(failing.code, 1);
    assert.match(failing.stdout, /FAILED\s+phase-2\/core\/test/);
    assert.match(failing.stdout, /0 ran, 1 failed, 2 blocked/);
  });
});

test('on a terminal: one live status line; elsewhere: plain lines', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p\nworkstreams:\n  - id: w\n    tasks:\n${['a', 'b', 'c'].map((id) => spanTask(id)).join('')}`,
  }, async (dir) => {
    // util-linux `script` gives uet a pseudo-terminal.
    const tty = spawnSync('script', ['-q', '-e', '-c', `${process.execPath} ${UET_BIN} build -j 2`, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.is(tty.status, 0, tty.stdout);
    assert.match(tty.stdout, /\r\x1b\[2K\[\d\/3\] running p\/w\/[abc]/);
    assert.match(tty.stdout, /: 3 tasks — 0 fresh, 0 restored, 3 ran, 0 failed/);
    const plain = await runUet(dir, ['build', '--force']);
    assert.not.match(plain.stdout, /\x1b\[2K/);
    assert.match(plain.stdout, /^ran\s+p\/w\/a/m);
  });
});

test.run();
