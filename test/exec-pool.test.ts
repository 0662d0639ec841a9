import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pidIsLive } from '../lib/exec/kill-tree.js';
import { ForkServerLauncher, perlServer, pythonServer } from '../lib/exec/fork-server.js';
import { createDirectExecutor, createLaneExecutor, createPoolExecutor, type ExecutorOptions } from '../lib/exec/pool.js';
import type { RunRequest, TaskExecutor } from '../lib/exec/types.js';
import { everyNth, WORKER_COLLECT_EVERY } from '../lib/exec/worker.js';

const PATH = '/usr/local/bin:/usr/bin:/bin';

interface Ctx {
  dir: string;
  ex: TaskExecutor;
}

function req(ctx: Ctx, command: string, extra: Partial<RunRequest> = {}): RunRequest {
  return { taskId: 't', command, shell: '/bin/sh', cwd: ctx.dir, env: { PATH }, ...extra };
}

async function waitForFile(path: string, timeoutMs = 5000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8').trim();
      if (text !== '') return text;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${path}`);
}

/** A command whose grandchild (`sleep 30`) writes its pid to `file`, then waits for it. */
const treeCommand = (file: string): string => `sleep 30 & echo $! > ${file}; wait`;

function defineSuite(name: string, make: (opts: ExecutorOptions) => TaskExecutor): void {
  const s = suite<Ctx>(name, { dir: '', ex: undefined as unknown as TaskExecutor });

  s.before.each((ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'uet-exec-'));
    ctx.ex = make({ graceMs: 300 });
  });
  s.after.each(async (ctx) => {
    await ctx.ex.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });

  s('exit codes', async (ctx) => {
    const [ok, three] = await Promise.all([ctx.ex.run(req(ctx, 'true')), ctx.ex.run(req(ctx, 'exit 3'))]);
    assert.is(ok.exitCode, 0);
    assert.is(three.exitCode, 3);
    assert.is(three.signal, null);
    assert.is(three.timedOut, false);
    assert.is(three.cancelled, false);
    assert.is(three.spawnError, undefined);
    assert.ok(three.durationMs >= 0);
  });

  s('stdout and stderr interleaved in the order written', async (ctx) => {
    const o = await ctx.ex.run(req(ctx, 'echo a; echo b >&2; echo c; echo d >&2; printf e >&2'));
    assert.is(o.output, 'a\nb\nc\nd\ne');
  });

  s('an output file is reused without leftovers of the previous task', async (ctx) => {
    const big = await ctx.ex.run(req(ctx, 'head -c 3000000 /dev/zero | tr "\\0" x'));
    assert.is(big.output.length, 3_000_000);
    const small = await ctx.ex.run(req(ctx, 'echo small'));
    assert.is(small.output, 'small\n');
  });

  s('the environment is exactly the one given', async (ctx) => {
    process.env.UET_TEST_SENTINEL = 'must-not-leak';
    try {
      const o = await ctx.ex.run(req(ctx, 'env', { env: { PATH, FOO: 'bar baz' } }));
      assert.is(o.exitCode, 0);
      const names = o.output.trim().split('\n').map((l) => l.slice(0, l.indexOf('=')));
      assert.ok(o.output.includes('FOO=bar baz\n'));
      assert.ok(!o.output.includes('UET_TEST_SENTINEL'));
      assert.ok(!names.includes('HOME'));
      // the shell itself may add these
      const shellAdded = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);
      for (const n of names) assert.ok(n === 'PATH' || n === 'FOO' || shellAdded.has(n), `unexpected variable ${n}`);
    } finally {
      delete process.env.UET_TEST_SENTINEL;
    }
  });

  s('cwd', async (ctx) => {
    const o = await ctx.ex.run(req(ctx, 'pwd -P'));
    assert.is(o.output.trim(), realpathSync(ctx.dir));
  });

  s('timeout kills the whole process tree', async (ctx) => {
    const pidFile = join(ctx.dir, 'gc.pid');
    const t0 = Date.now();
    const o = await ctx.ex.run(req(ctx, treeCommand(pidFile), { timeoutMs: 300 }));
    assert.ok(Date.now() - t0 < 5000);
    assert.is(o.timedOut, true);
    assert.is(o.cancelled, false);
    assert.ok(o.exitCode === null || o.exitCode !== 0);
    const gc = Number(await waitForFile(pidFile));
    assert.is(pidIsLive(gc), false, 'grandchild still alive');
  });

  s('timeout escalates to SIGKILL when SIGTERM is ignored', async (ctx) => {
    const pidFile = join(ctx.dir, 'gc.pid');
    const o = await ctx.ex.run(req(ctx, `trap '' TERM; ${treeCommand(pidFile)}`, { timeoutMs: 200 }));
    assert.is(o.timedOut, true);
    assert.is(o.signal, 'SIGKILL');
    const gc = Number(await waitForFile(pidFile));
    assert.is(pidIsLive(gc), false, 'grandchild survived SIGKILL');
  });

  s('a process left behind by a finished command is terminated', async (ctx) => {
    const pidFile = join(ctx.dir, 'gc.pid');
    const t0 = Date.now();
    const o = await ctx.ex.run(req(ctx, `sleep 30 & echo $! > ${pidFile}; echo done`));
    assert.ok(Date.now() - t0 < 3000);
    assert.is(o.exitCode, 0);
    assert.is(o.output, 'done\n');
    assert.is(pidIsLive(Number(await waitForFile(pidFile))), false);
  });

  s('killAll cancels running and queued tasks and kills their trees', async (ctx) => {
    const files = [0, 1, 2].map((i) => join(ctx.dir, `gc${i}.pid`));
    const runs = files.map((f) => ctx.ex.run(req(ctx, treeCommand(f))));
    // the pool has 2 threads: the third task is still queued
    const pids = [Number(await waitForFile(files[0]!)), Number(await waitForFile(files[1]!))];
    const t0 = Date.now();
    ctx.ex.killAll();
    assert.ok(Date.now() - t0 < 1000, 'killAll blocked too long');
    const outcomes = await Promise.all(runs);
    for (const o of outcomes) assert.is(o.cancelled, true);
    for (const pid of pids) assert.is(pidIsLive(pid), false, `grandchild ${pid} alive`);
    const third = Number(existsSync(files[2]!) ? readFileSync(files[2]!, 'utf8') : '0');
    if (third > 0) assert.is(pidIsLive(third), false);
  });

  s('an AbortSignal cancels one task only', async (ctx) => {
    const pidFile = join(ctx.dir, 'gc.pid');
    const ac = new AbortController();
    const victim = ctx.ex.run(req(ctx, treeCommand(pidFile)), ac.signal);
    const bystander = ctx.ex.run(req(ctx, 'sleep 0.5; echo ok'));
    const gc = Number(await waitForFile(pidFile));
    ac.abort();
    const o = await victim;
    assert.is(o.cancelled, true);
    assert.is(pidIsLive(gc), false);
    const b = await bystander;
    assert.is(b.exitCode, 0);
    assert.is(b.output, 'ok\n');
    assert.is(b.cancelled, false);
  });

  s('an already aborted signal starts nothing', async (ctx) => {
    const marker = join(ctx.dir, 'ran');
    const o = await ctx.ex.run(req(ctx, `touch ${marker}`), AbortSignal.abort());
    assert.is(o.cancelled, true);
    assert.is(o.exitCode, null);
    assert.is(existsSync(marker), false);
  });

  s('spawn errors are outcomes, not exceptions', async (ctx) => {
    const noCwd = await ctx.ex.run(req(ctx, 'true', { cwd: join(ctx.dir, 'missing') }));
    assert.is(noCwd.exitCode, null);
    assert.ok(noCwd.spawnError?.includes('working directory does not exist'), noCwd.spawnError);
    const noShell = await ctx.ex.run(req(ctx, 'true', { shell: '/no/such/shell' }));
    assert.is(noShell.exitCode, null);
    assert.ok(noShell.spawnError?.includes('shell not found'), noShell.spawnError);
    // the executor still works afterwards
    assert.is((await ctx.ex.run(req(ctx, 'true'))).exitCode, 0);
  });

  s('close() cancels what still runs', async (ctx) => {
    const pidFile = join(ctx.dir, 'gc.pid');
    const running = ctx.ex.run(req(ctx, treeCommand(pidFile)));
    const gc = Number(await waitForFile(pidFile));
    await ctx.ex.close();
    const o = await running;
    assert.is(o.cancelled, true);
    assert.is(pidIsLive(gc), false);
  });

  s.run();
}

for (const launcher of ['fork-server', 'child-process'] as const) {
  defineSuite(`pool executor, ${launcher}`, (opts) => createPoolExecutor({ threads: 2, launcher, ...opts }));
  defineSuite(`direct executor, ${launcher}`, (opts) => createDirectExecutor({ launcher, ...opts }));
}
defineSuite('lane executor', (opts) => createLaneExecutor({ lanes: 2, ...opts }));
// where neither Python nor Perl runs, the lanes hand every command to the pool (child_process)
defineSuite('lane executor without a fork server', (opts) => createLaneExecutor({ lanes: 2, laneLauncher: () => new ForkServerLauncher([pythonServer('/no/such/python'), perlServer('/no/such/perl')]), ...opts }));
defineSuite('lane executor with Perl\'s fork server', (opts) => createLaneExecutor({ lanes: 2, laneLauncher: () => new ForkServerLauncher([perlServer()]), ...opts }));

const workerHeap = suite('worker heap');

workerHeap('a worker collects once every WORKER_COLLECT_EVERY tasks, and only then', () => {
  let collections = 0;
  const afterTask = everyNth(WORKER_COLLECT_EVERY, () => collections++);
  for (let n = 1; n < WORKER_COLLECT_EVERY; n++) afterTask();
  assert.is(collections, 0);
  afterTask();
  assert.is(collections, 1);
  for (let n = 0; n < 2 * WORKER_COLLECT_EVERY - 1; n++) afterTask();
  assert.is(collections, 2);
});

workerHeap('a pool whose workers passed WORKER_COLLECT_EVERY tasks still runs them', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'uet-pool-gc-')));
  const ex = createPoolExecutor({ threads: 1 });
  try {
    // one thread: every task goes through the worker that collects
    const outcomes = await Promise.all(Array.from({ length: WORKER_COLLECT_EVERY + 5 }, (_, i) => ex.run({ taskId: `t${i}`, command: `echo ${i}`, shell: '/bin/sh', cwd: dir, env: { PATH } })));
    assert.ok(outcomes.every((o, i) => o.exitCode === 0 && o.output.trim() === String(i)));
  } finally {
    await ex.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

workerHeap.run();
