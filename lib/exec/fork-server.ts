/**
 * The fork server: a small Python or Perl process, one per lane of the thread that runs
 * commands, which starts them on uet's behalf.
 *
 * Why: libuv starts a child with fork() on Linux, and fork copies the page tables of the
 * parent's whole address space; a child then pays again for tearing that copy down at exec.
 * For uet at ~110 MB of RSS that was ~3 ms a spawn, much of a trivial task's cost and most of
 * the kernel time of a cold build. A 7 MB helper forks in a fraction of that.
 *
 * Python 3.8 or later first: its os.posix_spawn starts a child with vfork and exec, copying no
 * page at all, in a session of its own (setsid), and reports a failed exec itself, so a command
 * costs the server one call and the child nothing before its exec. Perl's fork makes the child
 * run Perl until it execs, every page it touches a copy-on-write fault, and the server waits
 * for that exec through a pipe: a cold build of 2,000 trivial tasks took 2.35 s with the
 * Python server against 2.76 s with Perl's (CPU 3.92 against 4.70 s, 8 each, interleaved).
 * Perl next, because it is on every Debian-like system (perl-base is Essential) and its core
 * POSIX module has setsid; `sh` has no way to give each child its own session. Where neither
 * starts, the thread falls back to child_process for good.
 *
 * The child's stdout/stderr is the caller's (unlinked) output file, reopened through
 * /proc/<uet's pid>/fd/<fd>: Linux only, which is where the fork cost is paid anyway.
 *
 * Commands that need no shell (direct-command.ts) are exec'd directly, after opening their one
 * redirection; one that cannot be exec'd that way goes to its shell after all.
 *
 * Protocol, one line per message. Requests: `<id> <shell> <cwd> <output path> <command>
 * <argv> <redirection> <NAME=value>...`, every field after the id hex-encoded (no quoting rules
 * to get wrong); `<argv>` is the words of a command to start without its shell, NUL-separated,
 * or empty, and `<redirection>` its `>path` or `>>path`, or empty.
 * Replies: `R` once ready; `P <id> <pid>` forked (Perl's child waits for this line to be written
 * before it does anything, so a server that dies can never leave a command uet does not know;
 * Python's child has exec'd by then, and the server holds every signal it can from the spawn
 * until this line is written, so only a SIGKILL in between can leave one: its task fails,
 * saying the server exited, and its tree, found by the output file it inherited, is killed);
 * `S <id> <pid>` started (exec succeeded, the pid leads its own session); `F <id> <stage>
 * <errno>` not started (stage: fork, cwd, output, exec); `E <id> <code> <signal> <flags>` the
 * shell exited and was reaped (code -1 when a signal ended it); flags, `-` for none: `d` it
 * was the command itself, started without its shell, `c` it dumped core, `e` its process group
 * was empty once it was reaped (nothing of the command is left: uet need not look, which in
 * Node costs an exception for every command).
 *
 * Server lifecycle, per thread:
 *
 *   idle ──launch()──► starting ──`R`──► ready ──close()──► idle (stdin ended; it exits)
 *                         │  └──close()──► idle
 *                         └──error/close──► broken ◄──close event (it died)── ready
 *   broken: child_process from then on. 'close' (not 'exit'): replies still in the pipe are read first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fstatSync, realpathSync } from 'node:fs';
import { directCommand, shellAllowsDirect, type DirectCommand } from './direct-command.js';
import { sessionsHoldingFile, signalGroup } from './kill-tree.js';
import { childProcessLauncher, errnoName, failureFromErrno, signalName, type ExitStatus, type LaunchedProcess, type LaunchFailure, type ProcessLauncher } from './launcher.js';
import type { RunRequest } from './types.js';
import { err, ok, type Result } from '../util/result.js';

const PERL_SERVER = String.raw`
use strict;
use POSIX ();
$SIG{CHLD} = sub {};
my %jobs;
# the pids started without a shell (their signal deaths are reported as such, see direct-command.ts)
my %direct;
my $buf = '';
my $eof = 0;
my $in = '';
vec($in, 0, 1) = 1;
my $parent = getppid();
open(my $null, '<', '/dev/null') or die "uet fork server: /dev/null: $!";
my %redirectFlags = ('>' => POSIX::O_WRONLY() | POSIX::O_CREAT() | POSIX::O_TRUNC(), '>>' => POSIX::O_WRONLY() | POSIX::O_CREAT() | POSIX::O_APPEND());
sub reply { my $line = "$_[0]\n"; syswrite(STDOUT, $line) == length($line) or exit 1; }
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $id = delete $jobs{$pid};
    next unless defined $id;
    my $st = $?;
    my $flags = (delete $direct{$pid} ? (($st & 128) ? 'dc' : 'd') : '') . ((kill(0, -$pid) || $! == POSIX::EPERM()) ? '' : 'e');
    reply((($st & 127) ? "E $id -1 " . ($st & 127) : "E $id " . ($st >> 8) . " 0") . ' ' . ($flags eq '' ? '-' : $flags));
  }
}
# What the child inherits is prepared here, in the parent (its environment, PWD included): the
# child only starts its session, moves three descriptors (and opens one redirection) and execs.
# Every page it writes before exec is a copy-on-write fault.
sub start {
  my ($id, $shell, $cwd, $out, $cmd, $argv, $redirect, @env) = @_;
  my @words = length($argv) ? split(/\0/, $argv, -1) : ();
  # uet is gone (killed after a Ctrl-C): what is left in the pipe must not start
  exit 0 if getppid() != $parent;
  if (!chdir($cwd)) { reply("F $id cwd " . ($! + 0)); return; }
  my $fh;
  if (!open($fh, '>>', $out)) { reply("F $id output " . ($! + 0)); return; }
  %ENV = map { split(/=/, $_, 2) } @env;
  # what a command started without its shell gets as PWD, as dash exports it: kept when it
  # names this folder, else the real path
  if (@words) {
    my @here = stat('.');
    my @pwd = (defined $ENV{PWD} && $ENV{PWD} =~ m{^/}) ? stat($ENV{PWD}) : ();
    $ENV{PWD} = POSIX::getcwd() unless @pwd && $pwd[0] == $here[0] && $pwd[1] == $here[1];
  }
  my ($r, $w, $gor, $gow);
  if (!pipe($r, $w)) { reply("F $id fork " . ($! + 0)); close $fh; return; }
  if (!pipe($gor, $gow)) { reply("F $id fork " . ($! + 0)); close $r; close $w; close $fh; return; }
  my $pid = fork();
  if (!defined $pid) { reply("F $id fork " . ($! + 0)); close $r; close $w; close $gor; close $gow; close $fh; return; }
  if ($pid == 0) {
    # nothing runs before uet has the pid: if the server dies first, this read sees EOF
    close $gow;
    POSIX::_exit(127) if sysread($gor, my $go, 1) != 1;
    POSIX::setsid();
    if (defined POSIX::dup2(fileno($null), 0) && defined POSIX::dup2(fileno($fh), 1) && defined POSIX::dup2(fileno($fh), 2)) {
      if (@words) {
        my $ready = 1;
        if (length $redirect) {
          # a bare descriptor, not a Perl file handle: its buffers would be pages to copy
          my ($mode, $target) = $redirect =~ /^(>>?)(.*)$/s;
          my $fd = POSIX::open($target, $redirectFlags{$mode}, 0666);
          $ready = defined $fd && defined POSIX::dup2($fd, 1);
          # closed once moved (or not): nothing sets close-on-exec on it, and no command may inherit it
          POSIX::close($fd) if defined $fd && $fd != 1;
        }
        exec { $words[0] } @words if $ready;
        # not started (not found, not executable, the redirection failed): the shell runs it
        # after all, and says why in its own words, with its own exit code
        POSIX::dup2(fileno($fh), 1);
        syswrite($w, '-');
      }
      exec { $shell } $shell, '-c', $cmd;
      syswrite($w, 'exec ' . ($! + 0));
    } else {
      syswrite($w, 'output ' . ($! + 0));
    }
    POSIX::_exit(127);
  }
  close $w;
  close $fh;
  close $gor;
  reply("P $id $pid");
  syswrite($gow, 'g');
  close $gow;
  my $why = '';
  for (;;) {
    my $n = sysread($r, $why, 64, length $why);
    last if defined $n && $n == 0;
    last if !defined $n && $! != POSIX::EINTR();
  }
  close $r;
  # '-': the command went to its shell after all
  my $viaShell = $why =~ s/^-//;
  if ($why eq '') { $jobs{$pid} = $id; $direct{$pid} = 1 if @words && !$viaShell; reply("S $id $pid"); return; }
  waitpid($pid, 0);
  reply("F $id $why");
}
reply('R');
for (;;) {
  reap();
  last if $eof && !%jobs;
  my $ready = $eof ? '' : $in;
  my $n = select($ready, undef, undef, %jobs ? 0.01 : undef);
  next if $n <= 0;
  my $got = sysread(STDIN, $buf, 65536, length $buf);
  if (!defined $got) { $eof = 1 if $! != POSIX::EINTR(); next; }
  if ($got == 0) { $eof = 1; next; }
  while ((my $nl = index($buf, "\n")) >= 0) {
    my $line = substr($buf, 0, $nl + 1, '');
    chop $line;
    my ($id, @fields) = split(/ /, $line, -1);
    start($id, map { pack('H*', $_) } @fields);
  }
}
`;

/**
 * The Python server (see the header): the same protocol as PERL_SERVER. It exits at once, before
 * saying `R`, where os.posix_spawn cannot start a child in a session of its own (before 3.8),
 * and the next server is tried. Signals Python ignores from its start (SIGPIPE, SIGXFSZ) are set
 * back to their defaults in each child, as an ignored signal stays ignored across exec.
 */
const PYTHON_SERVER = String.raw`
import os, select, signal, sys
if sys.version_info < (3, 8) or not hasattr(os, 'posix_spawn'):
    sys.exit(3)
DEFAULTS = [s for s in (signal.SIGPIPE, signal.SIGXFSZ) if signal.getsignal(s) == signal.SIG_IGN]
HELD = set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP}
signal.signal(signal.SIGCHLD, lambda s, f: None)
# SIGCHLD wakes the select below through this pipe (Python retries a select a signal interrupted)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
jobs = {}
# the pids started without a shell (their signal deaths are reported as such, see direct-command.ts)
direct = set()
parent = os.getppid()
REDIRECT = {b'>': os.O_WRONLY | os.O_CREAT | os.O_TRUNC, b'>>': os.O_WRONLY | os.O_CREAT | os.O_APPEND}

def reply(text):
    data = (text + '\n').encode()
    try:
        if os.write(1, data) != len(data):
            os._exit(1)
    except OSError:
        # uet is gone
        os._exit(1)

def reap():
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = jobs.pop(pid, None)
        if job is None:
            continue
        flags = ''
        if pid in direct:
            direct.discard(pid)
            flags = 'dc' if os.WCOREDUMP(st) else 'd'
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            flags += 'e'
        except PermissionError:
            pass
        flags = flags or '-'
        if os.WIFSIGNALED(st):
            reply('E %s -1 %d %s' % (job, os.WTERMSIG(st), flags))
        else:
            reply('E %s %d 0 %s' % (job, os.WEXITSTATUS(st), flags))

def spawn(job, path, argv, env, actions, search):
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        pid = (os.posix_spawnp if search else os.posix_spawn)(path, argv, env, file_actions=actions, setsid=True, setsigdef=DEFAULTS, setsigmask=())
        jobs[pid] = job
        reply('P %s %d\nS %s %d' % (job, pid, job, pid))
        return pid
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)

def start(job, shell, cwd, out, cmd, argv, redirect, *env):
    words = argv.split(b'\0') if argv else []
    # uet is gone (killed after a Ctrl-C): what is left in the pipe must not start
    if os.getppid() != parent:
        os._exit(0)
    try:
        os.chdir(cwd)
    except OSError as e:
        reply('F %s cwd %d' % (job, e.errno))
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError as e:
        reply('F %s output %d' % (job, e.errno))
        return
    try:
        environ = dict(kv.split(b'=', 1) for kv in env)
        actions = [(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
        if words:
            # what a command started without its shell gets as PWD, as dash exports it: kept
            # when it names this folder, else the real path
            mine = dict(environ)
            here = os.stat('.')
            try:
                there = os.stat(mine[b'PWD']) if mine.get(b'PWD', b'').startswith(b'/') else None
            except OSError:
                there = None
            if there is None or (there.st_dev, there.st_ino) != (here.st_dev, here.st_ino):
                mine[b'PWD'] = os.getcwdb()
            extra = []
            if redirect:
                mode = b'>>' if redirect.startswith(b'>>') else b'>'
                extra = [(os.POSIX_SPAWN_OPEN, 1, redirect[len(mode):], REDIRECT[mode], 0o666)]
            # posix_spawnp searches this process's PATH: the command's
            if b'PATH' in environ:
                os.environb[b'PATH'] = environ[b'PATH']
            else:
                os.environb.pop(b'PATH', None)
            try:
                direct.add(spawn(job, words[0], words, mine, actions + extra, True))
                return
            except OSError:
                # not started (not found, not executable, the redirection failed): the shell
                # runs it after all, and says why in its own words, with its own exit code
                pass
        try:
            spawn(job, shell, [shell, b'-c', cmd], environ, actions, False)
        except OSError as e:
            reply('F %s exec %d' % (job, e.errno))
    finally:
        os.close(fd)

reply('R')
buf = b''
eof = False
while True:
    reap()
    if eof and not jobs:
        break
    ready = select.select(([] if eof else [0]) + [wake_r], [], [])[0]
    if wake_r in ready:
        try:
            os.read(wake_r, 512)
        except BlockingIOError:
            pass
    if 0 in ready:
        got = os.read(0, 65536)
        if not got:
            eof = True
            continue
        buf += got
        while True:
            nl = buf.find(b'\n')
            if nl < 0:
                break
            line, buf = buf[:nl], buf[nl + 1:]
            job, *fields = line.split(b' ')
            start(job.decode(), *(bytes.fromhex(f.decode()) for f in fields))
`;

/** A fork server's program: what to run, with its script. */
export interface ForkServerProgram {
  readonly command: string;
  readonly args: readonly string[];
}

/** Python in isolated mode (no environment variables, no user site) and without `site`: ~15 ms to start */
export function pythonServer(python = 'python3'): ForkServerProgram {
  return { command: python, args: ['-I', '-S', '-c', PYTHON_SERVER] };
}

export function perlServer(perl = 'perl'): ForkServerProgram {
  return { command: perl, args: ['-e', PERL_SERVER] };
}

/** the servers a lane tries, in order */
export const FORK_SERVERS: readonly ForkServerProgram[] = [pythonServer(), perlServer()];

type ServerState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting'; readonly child: ChildProcess; readonly ready: Promise<boolean> }
  | { readonly kind: 'ready'; readonly child: ChildProcess }
  | { readonly kind: 'broken' };

interface Waiting {
  readonly started: (r: Result<LaunchedProcess, LaunchFailure>) => void;
  /** from `P`: the child exists and may be running even if `S` never comes */
  pid?: number;
  /** the command's output file, which its whole tree inherits: how it is found without `P` */
  readonly outputFd: number;
  exited?: (s: ExitStatus) => void;
}

export class ForkServerLauncher implements ProcessLauncher {
  private state: ServerState = { kind: 'idle' };
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  /** launch() calls waiting for the server to be ready */
  private booting = 0;
  private pendingText = '';

  constructor(
    /** the servers to try, in order; tests name ones that are missing to see the fallback */
    private readonly servers: readonly ForkServerProgram[] = FORK_SERVERS,
    /** start the commands that need no shell without it (see direct-command.ts) */
    private readonly directExec = true,
  ) {}

  async launch(req: RunRequest, outputFd: number): Promise<Result<LaunchedProcess, LaunchFailure>> {
    // while this waits for the server to boot, the server's handles keep the thread alive
    this.booting++;
    this.updateRefs();
    let child: ChildProcess | undefined;
    try {
      child = await this.server();
    } finally {
      this.booting--;
    }
    // the server may have died (and its waiters been failed) while this call awaited it
    if (child === undefined || this.state.kind !== 'ready' || this.state.child !== child) {
      this.updateRefs();
      return childProcessLauncher.launch(req, outputFd);
    }
    const id = this.nextId++;
    const env = Object.entries(req.env).map(([name, value]) => `${name}=${value}`);
    if ([req.shell, req.cwd, req.command, ...env].some((f) => f.includes('\0'))) return err({ kind: 'system', message: 'an argument or environment value contains a NUL byte' });
    // NUL separates the words: it cannot be in any of them (it is in no command)
    const direct = this.directExec ? directStart(req) : undefined;
    const redirect = direct?.stdout ? `${direct.stdout.append ? '>>' : '>'}${direct.stdout.path}` : '';
    const fields = [req.shell, req.cwd, `/proc/${process.pid}/fd/${outputFd}`, req.command, direct?.argv.join('\0') ?? '', redirect, ...env];
    const line = `${id} ${fields.map((f) => Buffer.from(f, 'utf8').toString('hex')).join(' ')}\n`;
    return new Promise((started) => {
      this.waiting.set(id, { started, outputFd });
      this.updateRefs();
      child.stdin?.write(line);
    });
  }

  async warm(): Promise<void> {
    this.booting++;
    this.updateRefs();
    try {
      await this.server();
    } finally {
      this.booting--;
      this.updateRefs();
    }
  }

  async usable(): Promise<boolean> {
    await this.warm();
    return this.state.kind === 'ready';
  }

  /** Called when nothing runs (the executor closes only then). */
  close(): void {
    const state = this.state;
    if (state.kind !== 'ready' && state.kind !== 'starting') return;
    // the server exits at the end of its input; an exit after close is not a failure
    state.child.removeAllListeners('close');
    state.child.stdin?.end();
    setRefs(state.child, false);
    this.state = { kind: 'idle' };
  }

  /**
   * The server's handles keep the thread's event loop alive only while a launch waits for it
   * or a command of it runs: an idle server must never hold a build open.
   */
  private updateRefs(): void {
    const state = this.state;
    if (state.kind === 'ready' || state.kind === 'starting') setRefs(state.child, this.booting > 0 || this.waiting.size > 0);
  }

  /** The running server's process, or undefined when this thread must use child_process. */
  private async server(): Promise<ChildProcess | undefined> {
    const state = this.state;
    switch (state.kind) {
      case 'ready':
        return state.child;
      case 'broken':
        return undefined;
      case 'starting':
        // the child may not be the one that became ready: a server that failed to start hands over to the next
        return (await state.ready) ? this.server() : undefined;
      case 'idle': {
        const started = this.start();
        return (await started) ? this.server() : undefined;
      }
    }
  }

  /** starts this.servers[index], or the next one that starts; false when none does */
  private start(index = 0): Promise<boolean> {
    const program = this.servers[index];
    if (program === undefined) {
      this.state = { kind: 'broken' };
      return Promise.resolve(false);
    }
    let child: ChildProcess;
    try {
      child = spawn(program.command, program.args, {
        // its own session: a Ctrl-C at the terminal is uet's to handle, not the server's
        detached: true,
        stdio: ['pipe', 'pipe', 'inherit'],
        env: {},
      });
    } catch {
      return this.start(index + 1);
    }
    const ready = new Promise<boolean>((resolve) => {
      // once: a program that cannot be run says so with 'error', then 'close'
      let failed = false;
      const fail = (): void => {
        if (failed) return;
        failed = true;
        resolve(this.start(index + 1));
      };
      child.on('error', () => {
        if (this.state.kind === 'starting' && this.state.child === child) fail();
      });
      // a write after the server died fails with EPIPE; its exit handler reports that
      child.stdin?.on('error', () => {});
      // 'close', not 'exit': replies still in the pipe when it exited are read first
      child.once('close', (code, signal) => {
        if (this.state.kind === 'starting' && this.state.child === child) fail();
        else this.lost(child, `the fork server exited (${signal ?? `code ${code}`})`);
      });
      child.stdout?.setEncoding('latin1');
      child.stdout?.on('data', (chunk: string) => {
        if (this.state.kind === 'starting' && this.state.child === child && chunk.startsWith('R\n')) {
          this.state = { kind: 'ready', child };
          resolve(true);
          chunk = chunk.slice(2);
        }
        this.receive(chunk);
      });
    });
    this.state = { kind: 'starting', child, ready };
    this.updateRefs();
    return ready;
  }

  private receive(chunk: string): void {
    let text = this.pendingText + chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      this.handle(text.slice(0, nl).split(' '));
      text = text.slice(nl + 1);
    }
    this.pendingText = text;
  }

  private handle(fields: string[]): void {
    const [kind, idText, a, b, flags = ''] = fields;
    const id = Number(idText);
    const w = this.waiting.get(id);
    if (w === undefined) return;
    switch (kind) {
      case 'P':
        w.pid = Number(a);
        return;
      case 'S': {
        const exit = new Promise<ExitStatus>((resolve) => {
          w.exited = resolve;
        });
        w.started(ok({ pid: Number(a), exit }));
        return;
      }
      case 'F':
        this.settle(id);
        w.started(err(failureOf(a ?? '', Number(b))));
        return;
      case 'E': {
        this.settle(id);
        const code = Number(a);
        const signo = Number(b);
        const group = flags.includes('e') ? { groupEmpty: true } : {};
        if (code >= 0) w.exited?.({ code, signal: null, ...group });
        else if (flags.includes('d')) w.exited?.({ code: null, signal: signalName(signo), directSignal: { number: signo, coreDumped: flags.includes('c') }, ...group });
        else w.exited?.({ code: null, signal: signalName(signo), ...group });
        return;
      }
    }
  }

  private settle(id: number): void {
    this.waiting.delete(id);
    this.updateRefs();
  }

  /**
   * The server died under us: nothing it started can be reported on any more. Only the ready
   * server has commands: a server that failed to start (its 'error' came first, and the next
   * server was started then) reports its 'close' later, maybe once the next one has some.
   */
  private lost(child: ChildProcess, why: string): void {
    if (this.state.kind !== 'ready' || this.state.child !== child) return;
    this.state = { kind: 'broken' };
    for (const w of this.waiting.values()) {
      const lost: ExitStatus = { code: null, signal: null, lost: why };
      if (w.exited) w.exited(lost);
      // forked, maybe exec'd: runCommand terminates whatever runs in its group
      else {
        const pid = w.pid ?? orphanedSession(w.outputFd);
        if (pid !== undefined) w.started(ok({ pid, exit: Promise.resolve(lost) }));
        else w.started(err({ kind: 'system', message: why }));
      }
    }
    this.waiting.clear();
  }
}

/**
 * The session of a command whose `P` never came: a Python server SIGKILLed between its spawn
 * and its reply (the one window its held signals leave) may have started it. Found by the
 * output file only that command's tree holds; any other session in it (a descendant that
 * called setsid) is killed here, the command's own one by runCommand.
 */
function orphanedSession(outputFd: number): number | undefined {
  let held: { dev: number; ino: number };
  try {
    held = fstatSync(outputFd);
  } catch {
    return undefined;
  }
  const [first, ...rest] = sessionsHoldingFile(held).sort((a, b) => a - b);
  for (const other of rest) signalGroup(other, 'SIGKILL');
  return first;
}

function failureOf(stage: string, errno: number): LaunchFailure {
  const code = errnoName(errno);
  const message = `${stage}: ${code ?? `errno ${errno}`}`;
  switch (stage) {
    case 'cwd':
      return { kind: 'cwd' };
    case 'output':
      return { kind: 'output', message };
    case 'exec':
      return failureFromErrno(code, message);
    default:
      return { kind: 'system', message };
  }
}

/** Referenced only while something runs, so an idle server never keeps a thread alive. */
function setRefs(child: ChildProcess, on: boolean): void {
  for (const h of [child, child.stdin, child.stdout]) {
    if (!isRefable(h)) continue;
    if (on) h.ref();
    else h.unref();
  }
}

interface Refable {
  ref(): unknown;
  unref(): unknown;
}

/** child.stdin/stdout are net.Sockets for pipes, though typed as plain streams */
function isRefable(h: unknown): h is Refable {
  return typeof h === 'object' && h !== null && typeof (h as Partial<Refable>).ref === 'function' && typeof (h as Partial<Refable>).unref === 'function';
}

/** realpath of each shell asked for: whether commands may skip it (see shellAllowsDirect) */
const directShells = new Map<string, boolean>();

/** how `req` may start without its shell, or undefined when it must go through it */
function directStart(req: RunRequest): DirectCommand | undefined {
  let allowed = directShells.get(req.shell);
  if (allowed === undefined) {
    try {
      allowed = shellAllowsDirect(realpathSync(req.shell));
    } catch {
      allowed = false;
    }
    directShells.set(req.shell, allowed);
  }
  if (!allowed) return undefined;
  const direct = directCommand(req.command);
  // a program name is looked up in the task's PATH; without one, the shell's default applies
  if (direct === undefined || (!direct.argv[0]!.includes('/') && req.env['PATH'] === undefined)) return undefined;
  return direct;
}
