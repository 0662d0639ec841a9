import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ForkServerLauncher, perlServer, pythonServer, type ForkServerProgram } from '../lib/exec/fork-server.js';
import { DEFAULT_SERVER_COMM } from './helpers/fork-server.js';
import { pidIsLive, sleepSync } from '../lib/exec/kill-tree.js';
import { createDirectExecutor, createLaneExecutor, createPoolExecutor } from '../lib/exec/pool.js';
import { runCommand, TaskSlot } from '../lib/exec/spawn.js';
import type { RunOutcome, RunRequest } from '../lib/exec/types.js';

const PATH = '/usr/local/bin:/usr/bin:/bin';

/** each server alone, and the name its children see as their parent's */
const SERVERS: ReadonlyArray<{ readonly name: string; readonly servers: readonly ForkServerProgram[]; readonly comm: string }> = [
  { name: 'python', servers: [pythonServer()], comm: 'python3' },
  { name: 'perl', servers: [perlServer()], comm: 'perl' },
];
const DEFAULT_COMM = DEFAULT_SERVER_COMM;
const NO_SERVER = [pythonServer('/no/such/python'), perlServer('/no/such/perl')];

function withDir<T extends { dir: string }>(t: ReturnType<typeof suite<T>>): void {
  t.before.each((ctx) => {
    ctx.dir = realpathSync(mkdtempSync(join(tmpdir(), 'uet-fork-')));
  });
  t.after.each((ctx) => {
    rmSync(ctx.dir, { recursive: true, force: true });
  });
}

const s = suite<{ dir: string }>('fork server', { dir: '' });
withDir(s);

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
      assert.is(who.parent, DEFAULT_COMM);
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

s('without Python the launcher starts Perl; without either it falls back to child_process, for this and every later command', async (ctx) => {
  // missing, and one that exits before it is ready (as the Python server does on a Python before 3.8)
  for (const first of [pythonServer('/no/such/python'), { command: 'python3', args: ['-c', 'import sys; sys.exit(3)'] }]) {
    const perl = new ForkServerLauncher([first, perlServer()]);
    const o = await runCommand(req(ctx.dir, WHO), new TaskSlot(), { graceMs: 300, launcher: perl });
    assert.is(o.exitCode, 0, o.output);
    assert.is(parse(o.output).parent, 'perl', first.command);
    perl.close();
  }
  const launcher = new ForkServerLauncher(NO_SERVER);
  for (let i = 0; i < 2; i++) {
    const o = await runCommand(req(ctx.dir, WHO), new TaskSlot(), { graceMs: 300, launcher });
    assert.is(o.exitCode, 0);
    assert.is(o.spawnError, undefined);
    assert.is(parse(o.output).parent, 'node');
  }
  launcher.close();
});

s('a server that failed to start, whose end is reported once the next one runs a command, fails nothing of the next one', async (ctx) => {
  for (let i = 0; i < 5; i++) {
    const launcher = new ForkServerLauncher([pythonServer('/no/such/python'), perlServer()]);
    const running = runCommand(req(ctx.dir, WHO), new TaskSlot(), { graceMs: 300, launcher });
    // the missing server's 'error' starts Perl (the first tick); the thread then stays busy
    // while Perl starts, so Perl's `R` is read in the same turn as the end of the missing one
    process.nextTick(() => process.nextTick(() => sleepSync(300)));
    const o = await running;
    launcher.close();
    assert.is(o.spawnError, undefined);
    assert.is(o.exitCode, 0, o.output);
    assert.is(parse(o.output).parent, 'perl');
  }
});

s('lanes: commands running at once are forked by fork servers of their own; each lane is a worker, the lowest idle one first', async (ctx) => {
  const events: string[] = [];
  const ex = createLaneExecutor({ lanes: 2, onWorker: (worker, state, task) => events.push(`${worker} ${state}${task !== undefined ? ` ${task}` : ''}`) });
  const who = 'cat /proc/$PPID/comm; echo $PPID; sleep 0.3';
  let onLane1 = '';
  try {
    const [a, b] = await Promise.all([ex.run({ ...req(ctx.dir, who), taskId: 'a' }), ex.run({ ...req(ctx.dir, who), taskId: 'b' })]);
    const [aParent, aServer] = a.output.trim().split('\n');
    const [bParent, bServer] = b.output.trim().split('\n');
    assert.equal([aParent, bParent], [DEFAULT_COMM, DEFAULT_COMM]);
    assert.is.not(aServer, bServer, 'two commands at once: two servers');
    // both lanes start at once; the first up takes the first command
    assert.equal([a.worker, b.worker].sort(), [1, 2]);
    onLane1 = a.worker === 1 ? 'a' : 'b';
    const c = await ex.run({ ...req(ctx.dir, who), taskId: 'c' });
    assert.is(c.worker, 1, 'alone again: the first lane');
    assert.is(c.output.trim().split('\n')[1], a.worker === 1 ? aServer : bServer, 'the first lane keeps its server');
  } finally {
    await ex.close();
  }
  const onLane2 = onLane1 === 'a' ? 'b' : 'a';
  assert.equal(events.filter((e) => e.startsWith('1 ')), ['1 spawning', '1 idle', `1 busy ${onLane1}`, '1 idle', '1 busy c', '1 idle', '1 draining', '1 terminated']);
  assert.equal(events.filter((e) => e.startsWith('2 ')), ['2 spawning', '2 idle', `2 busy ${onLane2}`, '2 idle', '2 draining', '2 terminated']);
});

s("lanes: a command waiting for a new lane's server runs on the first lane free, if that comes first", async (ctx) => {
  const events: string[] = [];
  // lane 2's server takes 1.5 s to be up; the command on lane 1 takes 0.3 s
  const slowStart = (): ForkServerLauncher => {
    const l = new ForkServerLauncher();
    const usable = l.usable.bind(l);
    l.usable = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return usable();
    };
    return l;
  };
  const launchers = [new ForkServerLauncher(), slowStart()];
  const ex = createLaneExecutor({ lanes: 2, laneLauncher: (lane) => launchers[lane]!, onWorker: (worker, state, task) => events.push(`${worker} ${state}${task !== undefined ? ` ${task}` : ''}`) });
  try {
    const t0 = Date.now();
    const a = ex.run({ ...req(ctx.dir, 'sleep 0.3'), taskId: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const b = await ex.run({ ...req(ctx.dir, 'echo b'), taskId: 'b' });
    assert.is(b.exitCode, 0);
    assert.is(b.worker, 1, 'b waited for lane 1 rather than for lane 2 to start');
    assert.ok(Date.now() - t0 < 1200, `b finished after ${Date.now() - t0} ms`);
    assert.is((await a).worker, 1);
  } finally {
    await ex.close();
  }
  assert.equal(events, ['1 spawning', '1 idle', '1 busy a', '1 idle', '1 busy b', '1 idle', '1 draining', '1 terminated'], 'lane 2, still starting when the executor closed, is never announced');
  // nothing said after close either, once lane 2's start is over
  await new Promise((resolve) => setTimeout(resolve, 1600));
  assert.is(events.length, 8, events.join(', '));
});

s('lanes without a server: every command goes to the thread pool, none through the lanes\' launchers', async (ctx) => {
  let launched = 0;
  const broken = (): ForkServerLauncher => {
    const l = new ForkServerLauncher(NO_SERVER);
    const launch = l.launch.bind(l);
    l.launch = (r, fd) => {
      launched++;
      return launch(r, fd);
    };
    return l;
  };
  const ex = createLaneExecutor({ lanes: 2, laneLauncher: broken });
  try {
    const outcomes = await Promise.all([ex.run(req(ctx.dir, WHO)), ex.run(req(ctx.dir, WHO)), ex.run(req(ctx.dir, 'exit 4'))]);
    assert.equal(outcomes.map((o) => o.exitCode), [0, 0, 4]);
    assert.equal(outcomes.slice(0, 2).map((o) => parse(o.output).parent), ['node', 'node']);
    assert.is(launched, 0, 'no command went through a lane');
  } finally {
    await ex.close();
  }
});

s('an idle server, closed or not, never keeps the process alive', () => {
  const module = (name: string): string => JSON.stringify(new URL(`../lib/exec/${name}.js`, import.meta.url).href);
  for (const then of ['', 'launcher.close();', 'setTimeout(() => launcher.close(), 2);']) {
    const script = `import { ForkServerLauncher } from ${module('fork-server')};
import { runCommand, TaskSlot } from ${module('spawn')};
const launcher = new ForkServerLauncher();
const o = await runCommand({ taskId: 't', command: 'cat /proc/$PPID/comm', shell: '/bin/sh', cwd: '/', env: {} }, new TaskSlot(), { graceMs: 300, launcher });
if (o.output !== ${JSON.stringify(`${DEFAULT_COMM}\n`)}) throw new Error('not run by the fork server: ' + JSON.stringify(o));
${then}`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    assert.is(r.signal, null, `still running after 10 s (then: ${then || 'nothing'})`);
    assert.is(r.status, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000);
  }
});

/** an executable file in `dir` */
function script(dir: string, name: string, text: string, mode = 0o755): void {
  writeFileSync(join(dir, name), text, { mode });
}

/** the same command through the fork server with and without its shell */
async function bothWays(servers: readonly ForkServerProgram[], r: RunRequest): Promise<{ direct: RunOutcome; shell: RunOutcome }> {
  const direct = new ForkServerLauncher(servers);
  const shell = new ForkServerLauncher(servers, false);
  try {
    return {
      direct: await runCommand(r, new TaskSlot(), { graceMs: 300, launcher: direct }),
      shell: await runCommand(r, new TaskSlot(), { graceMs: 300, launcher: shell }),
    };
  } finally {
    direct.close();
    shell.close();
  }
}

s('a Python server SIGKILLed between starting a command and saying so: the command is found by its output file and its tree killed, a descendant\'s own session too', async (ctx) => {
  const real = pythonServer();
  const serverScript = real.args[real.args.length - 1] ?? '';
  const said = "reply('P %s %d\\nS %s %d' % (job, pid, job, pid))";
  assert.ok(serverScript.includes(said), 'the server\'s reply to a spawn is not where this test cuts in');
  // dies after the command has started its children (at most 10 s on) and before it says it started one
  const dies = ["for _ in range(1000):", "    if os.path.exists('ready'): break", '    select.select([], [], [], 0.01)', 'os.kill(os.getpid(), signal.SIGKILL)'].join('\n        ');
  const launcher = new ForkServerLauncher([{ command: real.command, args: [...real.args.slice(0, -1), serverScript.replace(said, dies)] }]);
  const o = await runCommand(req(ctx.dir, 'sleep 30 & echo $! > sleep.pid; setsid sleep 30 & echo $! > escaped.pid; touch ready; wait'), new TaskSlot(), { graceMs: 300, launcher });
  launcher.close();
  assert.is(o.exitCode, null);
  assert.ok(o.spawnError?.includes('the fork server exited'), o.spawnError);
  for (const name of ['sleep.pid', 'escaped.pid']) assert.is(pidIsLive(Number(readFileSync(join(ctx.dir, name), 'utf8'))), false, `${name}: the command's child survived`);
});

s.run();

// what each server does, it does alike
for (const server of SERVERS) {
  const t = suite<{ dir: string }>(`fork server: ${server.name}`, { dir: '' });
  withDir(t);

  t('the server says when a command left its process group empty, and only then', async (ctx) => {
    const launcher = new ForkServerLauncher(server.servers);
    const out = join(ctx.dir, 'out.log');
    writeFileSync(out, '');
    const fd = openSync(out, 'a');
    try {
      const exitOf = async (command: string) => {
        const launched = await launcher.launch(req(ctx.dir, command), fd);
        assert.ok(launched.ok);
        return { pid: launched.value.pid, status: await launched.value.exit };
      };
      // through the shell, and started directly (direct-command.ts)
      for (const command of ['exit 3', 'true']) assert.is((await exitOf(command)).status.groupEmpty, true, command);
      // a background process is still in the group when the shell is reaped
      const left = await exitOf(`sleep 30 & echo $! > ${join(ctx.dir, 'bg.pid')}`);
      assert.is(left.status.groupEmpty, undefined);
      assert.is(pidIsLive(Number(readFileSync(join(ctx.dir, 'bg.pid'), 'utf8'))), true);
      process.kill(-left.pid, 'SIGKILL');
    } finally {
      closeSync(fd);
      launcher.close();
    }
  });

  t('a server killed under a running command: the command fails with the reason, its tree is killed, the next one falls back', async (ctx) => {
    const launcher = new ForkServerLauncher(server.servers);
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

  t('arguments and environment reach the command byte for byte', async (ctx) => {
    const launcher = new ForkServerLauncher(server.servers);
    const odd = 'tab\there, newline\nthere, quote \' " $HOME `x` \\ ü 🎉 =';
    const o = await runCommand({ ...req(ctx.dir, 'printf %s "$ODD"; printf "|%s" "$EMPTY"'), env: { PATH, ODD: odd, EMPTY: '' } }, new TaskSlot(), { graceMs: 300, launcher });
    assert.is(o.exitCode, 0);
    assert.is(o.output, `${odd}|`);
    launcher.close();
  });

  t('many commands at once each get their own exit status and output', async (ctx) => {
    const launcher = new ForkServerLauncher(server.servers);
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => runCommand(req(ctx.dir, `echo ${i}; exit ${i % 7}`), new TaskSlot(), { graceMs: 300, launcher })));
    outcomes.forEach((o, i) => {
      assert.is(o.exitCode, i % 7);
      assert.is(o.output, `${i}\n`);
    });
    launcher.close();
  });

  t('a command ended by a signal reports the signal', async (ctx) => {
    const launcher = new ForkServerLauncher(server.servers);
    const o = await runCommand(req(ctx.dir, 'kill -USR1 $$'), new TaskSlot(), { graceMs: 300, launcher });
    assert.is(o.exitCode, null);
    assert.is(o.signal, 'SIGUSR1');
    launcher.close();
  });

  t('a command that needs no shell is started without one, its redirection opened for it', async (ctx) => {
    script(ctx.dir, 'who', '#!/bin/sh\ncat /proc/$PPID/comm\n');
    const { direct, shell } = await bothWays(server.servers, req(ctx.dir, './who'));
    assert.is(direct.output, `${server.comm}\n`);
    assert.is(shell.output, 'sh\n');
    const launcher = new ForkServerLauncher(server.servers);
    try {
      const to = await runCommand(req(ctx.dir, './who > who.txt'), new TaskSlot(), { graceMs: 300, launcher });
      const more = await runCommand(req(ctx.dir, './who >>who.txt'), new TaskSlot(), { graceMs: 300, launcher });
      assert.is(to.exitCode, 0);
      assert.is(more.exitCode, 0);
      assert.is(to.output + more.output, '');
      assert.is(readFileSync(join(ctx.dir, 'who.txt'), 'utf8'), `${server.comm}\n${server.comm}\n`);
    } finally {
      launcher.close();
    }
  });

  t('a command started without its shell sees the environment the shell would have exported (PWD as dash sets it)', async (ctx) => {
    const envs: Array<Record<string, string>> = [{ PATH }, { PATH, PWD: '/etc' }, { PATH, PWD: ctx.dir, OTHER: 'x y' }];
    for (const env of envs) {
      const { direct, shell } = await bothWays(server.servers, { ...req(ctx.dir, 'env'), env });
      assert.is(direct.exitCode, 0);
      assert.is(direct.output.split('\n').sort().join('\n'), shell.output.split('\n').sort().join('\n'), JSON.stringify(env));
      assert.match(direct.output, `PWD=${ctx.dir}\n`);
    }
  });

  t('a command started without its shell holds the descriptors the shell would have given it, and its redirection as the shell opens it', async (ctx) => {
    const listing = async (launcher: ForkServerLauncher, command: string): Promise<void> => {
      const o = await runCommand(req(ctx.dir, command), new TaskSlot(), { graceMs: 300, launcher });
      assert.is(o.exitCode, 0, o.output);
    };
    const direct = new ForkServerLauncher(server.servers);
    const shell = new ForkServerLauncher(server.servers, false);
    try {
      await listing(direct, 'ls /proc/self/fd > direct.txt');
      await listing(shell, 'ls /proc/self/fd > shell.txt');
      writeFileSync(join(ctx.dir, 'kept.txt'), 'old\n');
      await listing(direct, 'ls /proc/self/fd >> kept.txt');
    } finally {
      direct.close();
      shell.close();
    }
    const fds = readFileSync(join(ctx.dir, 'shell.txt'), 'utf8');
    // 0, 1 and 2, the folder ls reads, and whatever the test's own process inherited
    assert.ok(fds.startsWith('0\n1\n2\n'), fds);
    assert.is(readFileSync(join(ctx.dir, 'direct.txt'), 'utf8'), fds, 'no descriptor more or less than through the shell');
    assert.is(readFileSync(join(ctx.dir, 'kept.txt'), 'utf8'), `old\n${fds}`, '>> appends');
  });

  t('what the shell would have said and exited with, a command started without it says and exits with', async (ctx) => {
    script(ctx.dir, 'segv', '#!/bin/sh\nkill -SEGV $$\n');
    script(ctx.dir, 'quiet', '#!/bin/sh\nkill -PIPE $$\n');
    script(ctx.dir, 'noshebang', 'echo run by the shell\n');
    script(ctx.dir, 'data.txt', 'not a program\n', 0o644);
    const cases = ['no-such-program-uet-test a b', 'cat missing.txt > out.txt', 'cat noshebang > no/such/folder.txt', './noshebang', './data.txt', './segv', './quiet', 'false-uet-test'];
    for (const command of cases) {
      const { direct, shell } = await bothWays(server.servers, req(ctx.dir, command));
      assert.equal([direct.exitCode, direct.signal, direct.output, direct.spawnError], [shell.exitCode, shell.signal, shell.output, shell.spawnError], command);
    }
    const segv = (await bothWays(server.servers, req(ctx.dir, './segv'))).direct;
    assert.is(segv.exitCode, 139);
    assert.is(segv.output, 'Segmentation fault\n');
  });

  t('a command starts with no signal ignored or blocked, with or without its shell', async (ctx) => {
    // Python ignores SIGPIPE and SIGXFSZ from its start, and an ignored signal stays ignored
    // across exec; the server holds signals while it spawns. glibc's posix_spawn leaves its two
    // internal signals (32, 33: thread cancellation and setxid) ignored in the child, as in every
    // child of ninja or make (both spawn so); a program's libc sets them up as it needs them.
    const { direct, shell } = await bothWays(server.servers, req(ctx.dir, 'grep -e ^SigBlk -e ^SigIgn /proc/self/status'));
    const GLIBC_INTERNAL = (1n << 31n) | (1n << 32n);
    for (const o of [direct, shell]) {
      assert.is(o.exitCode, 0, o.output);
      const [blocked, ignored] = o.output.trim().split('\n').map((l) => BigInt(`0x${l.split('\t')[1]}`));
      assert.is(blocked, 0n, o.output);
      assert.is(ignored! & ~GLIBC_INTERNAL, 0n, o.output);
    }
  });

  t('a timeout kills a command started without its shell, and says so, as it did its shell', async (ctx) => {
    const { direct, shell } = await bothWays(server.servers, { ...req(ctx.dir, 'sleep 30'), timeoutMs: 100 });
    for (const o of [direct, shell]) {
      assert.ok(o.timedOut);
      assert.is(o.exitCode, null);
      assert.is(o.signal, 'SIGTERM');
    }
  });

  t.run();
}
