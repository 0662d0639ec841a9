/**
 * Which commands can be started without their shell, and how.
 *
 * A task's command runs as `sh -c command`. For most commands of a build (`tsc -p .`,
 * `cksum a b > out`) the shell does nothing but split the words, open one redirection and
 * start the program as its own child: a second process per task, whose fork, exec and dynamic
 * loading cost ~0.4 ms of CPU (1.2 against 0.8 ms a command, sequentially, on this project's
 * 2-core benchmark machine), on a machine whose cores a cold build already keeps busy. The fork
 * server (fork-server.ts) starts such a command directly: the words, at most one stdout
 * redirection, and the environment the shell would have exported.
 *
 * Only commands whose meaning cannot depend on the shell qualify: plain words made of
 * characters no POSIX shell treats specially (no quoting, expansion, globbing, tilde, comment,
 * operator or assignment), a first word that is not a reserved word or a builtin of the common
 * shells (a builtin's behaviour differs from the program of the same name: dash's `echo`
 * against coreutils' `echo -e`), and optionally one trailing `> file` or `>> file`. Anything
 * else returns undefined and runs through the shell, as always.
 *
 * What the shell would still have done differently is handled where the command starts: a
 * program that cannot be executed (not found, not executable, not a binary) is handed to the
 * shell after all, which gives its usual message and exit code (127, 126); PWD is set as dash
 * sets it; and a program killed by a signal reports exit code 128 + the signal, as the shell
 * that waited for it would have.
 */

/** A command the fork server may exec without a shell. */
export interface DirectCommand {
  /** the program (looked up in the task's PATH, as the shell would) and its arguments */
  readonly argv: readonly string[];
  /** a trailing `> path` (append: false) or `>> path` (append: true), relative to the cwd */
  readonly stdout?: { readonly path: string; readonly append: boolean };
}

/** characters that are literal in every POSIX shell's plain word, in any position */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
const SEPARATOR = /[ \t]+/;

/**
 * Reserved words and builtins of dash, bash and zsh (and `[`, `test`, `echo`, `printf`,
 * `kill`, `pwd`, `true`, `false`, which also exist as programs but behave differently as
 * builtins). A command named by one of them always goes through the shell.
 */
const SHELL_WORDS = new Set([
  // reserved words
  '!', '{', '}', 'case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'function', 'if', 'in', 'select', 'then', 'time', 'until', 'while', 'coproc',
  // POSIX special and regular builtins, and dash's
  '.', ':', '[', 'alias', 'bg', 'break', 'cd', 'chdir', 'command', 'continue', 'echo', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg', 'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'set', 'shift', 'test', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'wait',
  // bash's and zsh's own
  'bind', 'builtin', 'caller', 'compgen', 'complete', 'compopt', 'declare', 'dirs', 'disown', 'enable', 'help', 'history', 'let', 'logout', 'mapfile', 'popd', 'pushd', 'readarray', 'shopt', 'source', 'suspend', 'typeset', 'autoload', 'bye', 'emulate', 'integer', 'print', 'setopt', 'unsetopt', 'whence', 'where', 'which', 'zmodload',
]);

/** the command as a DirectCommand, or undefined when only a shell can run it faithfully */
export function directCommand(command: string): DirectCommand | undefined {
  const tokens = command.trim().split(SEPARATOR);
  if (tokens.length === 0 || tokens[0] === '') return undefined;
  let stdout: DirectCommand['stdout'];
  // the redirection, if any, is the last token (`>out`) or the last two (`> out`)
  const last = tokens[tokens.length - 1]!;
  const beforeLast = tokens.length >= 2 ? tokens[tokens.length - 2]! : undefined;
  if (beforeLast === '>' || beforeLast === '>>') {
    stdout = { path: last, append: beforeLast === '>>' };
    tokens.splice(-2, 2);
  } else if (last.startsWith('>')) {
    const append = last.startsWith('>>');
    stdout = { path: last.slice(append ? 2 : 1), append };
    tokens.pop();
  }
  if (stdout !== undefined && !PLAIN_WORD.test(stdout.path)) return undefined;
  if (tokens.length === 0 || !tokens.every((t) => PLAIN_WORD.test(t))) return undefined;
  const program = tokens[0]!;
  // `NAME=value cmd` is an assignment; a program named by a shell word is not what runs
  if (program.includes('=') || SHELL_WORDS.has(program)) return undefined;
  return stdout === undefined ? { argv: tokens } : { argv: tokens, stdout };
}

/**
 * Whether `shell` (the realpath of a task's shell) is one whose direct start is known to match:
 * dash, Debian's and Ubuntu's /bin/sh, which exports nothing but PWD to its commands. (bash
 * adds SHLVL and `_`; elsewhere every command keeps going through its shell.)
 */
export function shellAllowsDirect(realShell: string): boolean {
  return realShell.endsWith('/dash');
}

/** glibc's real-time signals (its SIGRTMIN leaves two to the threads library) */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** glibc's strsignal() for Linux's signals, which dash prints for a command a signal ended */
const SIGNAL_TEXT: Readonly<Record<string, string>> = {
  SIGHUP: 'Hangup',
  SIGQUIT: 'Quit',
  SIGILL: 'Illegal instruction',
  SIGTRAP: 'Trace/breakpoint trap',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed',
  SIGUSR1: 'User defined signal 1',
  SIGSEGV: 'Segmentation fault',
  SIGUSR2: 'User defined signal 2',
  SIGALRM: 'Alarm clock',
  SIGTERM: 'Terminated',
  SIGSTKFLT: 'Stack fault',
  SIGCHLD: 'Child exited',
  SIGCONT: 'Continued',
  SIGSTOP: 'Stopped (signal)',
  SIGTSTP: 'Stopped',
  SIGTTIN: 'Stopped (tty input)',
  SIGTTOU: 'Stopped (tty output)',
  SIGURG: 'Urgent I/O condition',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'File size limit exceeded',
  SIGVTALRM: 'Virtual timer expired',
  SIGPROF: 'Profiling timer expired',
  SIGWINCH: 'Window changed',
  SIGIO: 'I/O possible',
  SIGPWR: 'Power failure',
  SIGSYS: 'Bad system call',
};

/**
 * What dash reports when the command it waited for was ended by signal `name` (number
 * `number`): exit code 128 + the number, and on stderr the signal's description (with
 * " (core dumped)" after a core dump), except for SIGINT and SIGPIPE, which it leaves silent.
 */
export function shellSignalReport(name: string | null, number: number, coreDumped: boolean): { readonly code: number; readonly line: string } {
  const code = 128 + number;
  if (name === 'SIGINT' || name === 'SIGPIPE') return { code, line: '' };
  const known = name === null ? undefined : SIGNAL_TEXT[name];
  const text = known ?? (number >= SIGRTMIN && number <= SIGRTMAX ? `Real-time signal ${number - SIGRTMIN}` : `Unknown signal ${number}`);
  return { code, line: `${text}${coreDumped ? ' (core dumped)' : ''}\n` };
}
