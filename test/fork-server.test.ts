import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ForkServerLauncher } from '../lib/exec/fork-server.js';
import { pidIsLive } from '../lib/exec/kill-tree.js';
import { createDirectExecutor, createPoolExecutor } from '../lib/exec/pool.js';
import { runCommand, TaskSlot } from '../lib/exec/spawn.js';
import type { RunRequest } from '../lib/exec/types.js';

const PATH = '/usr/local/bin:/usr/bin:/bin';
const s = suite<{ dir: string }>('fork server', { dir: '' });

s.before.each((ctx) => {
  ctx.dir = realpathSync(mkdtempSync(join(tmpdir(), 'uet-fork-')));
});
s.after.each((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

const req = (dir: string, command: string): RunRequest => ({ taskId: 't', command, shell: '/bin/sh', cwd: dir, env: { PATH } });
/** the name of the process that started the shell, and the shell's pid, pgid and sid */
const WHO = 'cat /proc/$PPID/comm; ps -o pid=,pgid=,sid= -p $$';

function parse(output: string): { parent: string; pid: number; pgid: number; sid: number } {
  const [parent, ids] = output.trim().split('\n');
  const [pid, pgid, sid] = (ids ?? '').trim().split(/\s+/).map(Number);
  return { parent: parent ?? '', pid: pid ?? 0, pgid: pgid ?? 0, sid: sid ?? 0 };
}

s('by default a command is forked by the fork server, in a session of its own', async (ctx) => {
  for (const ex of [createDirectExecutor(), createPoolExecutor({ threads: 1 })]) {
    try {
      const o = await ex.run(req(ctx.dir, WHO));
      assert.is(o.exitCode, 0, o.output);
      const who = parse(o.output);
      assert.is(who.parent, 'perl');
      assert.is(who.pgid, who.pid);
      assert.is(who.sid, who.pid);
    } finally {
      await ex.close();
    }
  }
});

s('child-process launches from node itself', async (ctx) => {
  const ex = createDirectExecutor({ launcher: 'child-process' });
  try {
    const who = parse((await ex.run(req(ctx.dir, WHO))).output);
    assert.is(who.parent, 'node');
    assert.is(who.sid, who.pid);
  } finally {
    await ex.close();
  }
});

s('without Perl the launcher falls back to child_process, for this and every later command', async (ctx) => {
  const launcher = new ForkServerLauncher('/no/such/perl');
  for (let i = 0; i < 2; i++) {
    const o = await runCommand(req(ctx.dir, WHO), new TaskSlot(), { graceMs: 300, launcher });
    assert.is(o.exitCode, 0);
    assert.is(o.spawnError, undefined);
    assert.is(parse(o.output).parent, 'node');
  }
  launcher.close();
});

s('a server killed under a running command: the command fails with the reason, its tree is killed, the next one falls back', async (ctx) => {
  const launcher = new ForkServerLauncher();
  const pidFile = join(ctx.dir, 'sleep.pid');
  const o = await runCommand(req(ctx.dir, `sleep 30 & echo $! > ${pidFile}; kill -9 $PPID; wait`), new TaskSlot(), { graceMs: 300, launcher });
  assert.is(o.exitCode, null);
  assert.ok(o.spawnError?.includes('the fork server exited'), o.spawnError);
  assert.is(pidIsLive(Number(readFileSync(pidFile, 'utf8'))), false, 'the command\'s child survived');
  const next = await runCommand(req(ctx.dir, WHO), new TaskSlot(), { graceMs: 300, launcher });
  assert.is(next.exitCode, 0);
  assert.is(parse(next.output).parent, 'node');
  launcher.close();
});

s('arguments and environment reach the command byte for byte', async (ctx) => {
  const launcher = new ForkServerLauncher();
  const odd = 'tab\there, newline\nthere, quote \' " $HOME `x` \\ ü 🎉 =';
  const o = await runCommand({ ...req(ctx.dir, 'printf %s "$ODD"; printf "|%s" "$EMPTY"'), env: { PATH, ODD: odd, EMPTY: '' } }, new TaskSlot(), { graceMs: 300, launcher });
  assert.is(o.exitCode, 0);
  assert.is(o.output, `${odd}|`);
  launcher.close();
});

s('many commands at once each get their own exit status and output', async (ctx) => {
  const launcher = new ForkServerLauncher();
  const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => runCommand(req(ctx.dir, `echo ${i}; exit ${i % 7}`), new TaskSlot(), { graceMs: 300, launcher })));
  outcomes.forEach((o, i) => {
    assert.is(o.exitCode, i % 7);
    assert.is(o.output, `${i}\n`);
  });
  launcher.close();
});

s('a command ended by a signal reports the signal', async (ctx) => {
  const launcher = new ForkServerLauncher();
  const o = await runCommand(req(ctx.dir, 'kill -USR1 $$'), new TaskSlot(), { graceMs: 300, launcher });
  assert.is(o.exitCode, null);
  assert.is(o.signal, 'SIGUSR1');
  launcher.close();
});

s('an idle server, closed or not, never keeps the process alive', () => {
  const module = (name: string): string => JSON.stringify(new URL(`../lib/exec/${name}.js`, import.meta.url).href);
  for (const then of ['', 'launcher.close();', 'setTimeout(() => launcher.close(), 2);']) {
    const script = `import { ForkServerLauncher } from ${module('fork-server')};
import { runCommand, TaskSlot } from ${module('spawn')};
const launcher = new ForkServerLauncher();
const o = await runCommand({ taskId: 't', command: 'cat /proc/$PPID/comm', shell: '/bin/sh', cwd: '/', env: {} }, new TaskSlot(), { graceMs: 300, launcher });
if (o.output !== 'perl\\n') throw new Error('not run by the fork server: ' + JSON.stringify(o));
${then}`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    assert.is(r.signal, null, `still running after 10 s (then: ${then || 'nothing'})`);
    assert.is(r.status, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000);
  }
});

s.run();
