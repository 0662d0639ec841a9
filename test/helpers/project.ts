/**
 * Test harness for integration tests: throw-away projects under os.tmpdir() and a way to run
 * the real CLI (`bin/uet.js`) in them as a child process, the way a user would.
 *
 * This file is compiled to dist/test/helpers/project.js; the repository root is three folders up.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { RACY_MS } from '../../lib/build/noop-proof.js';
import { sleep } from '../../lib/util/sleep.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** absolute path of the repository (the folder holding package.json and bin/) */
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
/** absolute path of the CLI entry point */
export const UET_BIN = path.join(REPO_ROOT, 'bin', 'uet.js');

const TMP_PREFIX = 'uet-test-';
const DEFAULT_TIMEOUT_MS = 60_000;

export interface RunOptions {
  /** merged over the harness's environment; a value of `undefined` removes the variable */
  env?: Record<string, string | undefined>;
  /** the child is killed (with its process group) after this long; default 60 s */
  timeoutMs?: number;
  /** written to the child's stdin, which is then closed (stdin is always closed) */
  input?: string;
  /** run this node script instead of bin/uet.js (to test the harness itself) */
  script?: string;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** true when the harness killed the child after `timeoutMs` */
  timedOut: boolean;
}

/** Creates a temporary project; keys are root-relative paths (folders are created). Returns its absolute path. */
export function makeProject(files: Record<string, string> = {}): string {
  // realpath: on some systems os.tmpdir() is a symlink, and the CLI reports real paths
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX)));
  for (const [rel, text] of Object.entries(files)) writeText(dir, rel, text);
  return dir;
}

/**
 * A small chain, p/w: a reads src/a.txt, a2 upper-cases a's output, b reads src/b.txt on its own.
 * A change to src/a.txt re-runs a and a2, never b.
 */
export const CHAIN = `id: p
workstreams:
  - id: w
    tasks:
      - id: a
        run: "mkdir -p out; cat src/a.txt > out/a.txt"
        inputs: [src/a.txt]
        outputs: [out/a.txt]
      - id: a2
        run: "tr a-z A-Z < out/a.txt > out/a2.txt"
        inputs: []
        outputs: [out/a2.txt]
        depends_on: [a]
      - id: b
        run: "mkdir -p out; cat src/b.txt > out/b.txt"
        inputs: [src/b.txt]
        outputs: [out/b.txt]
`;

/** A project holding CHAIN, its sources ('one', 'bee') and a bare config. */
export function makeChainProject(): string {
  return makeProject({ 'uet.config.yaml': 'version: 1\n', 'src/a.txt': 'one\n', 'src/b.txt': 'bee\n', 'phases/p.yaml': CHAIN });
}

/** Runs `body` in a project made by makeProject, and removes it afterwards whatever happens. */
export async function withProject<T>(files: Record<string, string>, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = makeProject(files);
  try {
    return await body(dir);
  } finally {
    removeProject(dir);
  }
}

/** Deletes a project made by makeProject (refuses anything outside os.tmpdir()). */
export function removeProject(dir: string): void {
  const tmp = fs.realpathSync(os.tmpdir());
  const abs = path.resolve(dir);
  if (!abs.startsWith(tmp + path.sep) || !path.basename(abs).startsWith(TMP_PREFIX)) {
    throw new Error(`removeProject: refusing to delete ${abs} (not a project made by makeProject)`);
  }
  fs.rmSync(abs, { recursive: true, force: true });
}

function resolveIn(dir: string, rel: string): string {
  return path.resolve(dir, rel);
}

export function readText(dir: string, rel: string): string {
  return fs.readFileSync(resolveIn(dir, rel), 'utf8');
}

/** Writes a file, creating its folders. A path ending in '/' creates an empty folder. */
export function writeText(dir: string, rel: string, text: string): void {
  const abs = resolveIn(dir, rel);
  if (rel.endsWith('/')) {
    fs.mkdirSync(abs, { recursive: true });
    return;
  }
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, text);
}

export function exists(dir: string, rel: string): boolean {
  return fs.existsSync(resolveIn(dir, rel));
}

/** The non-empty lines of a file (tasks do `echo x >> runs.log`); [] when it does not exist. */
export function readLines(dir: string, rel: string): string[] {
  if (!exists(dir, rel)) return [];
  return readText(dir, rel).split('\n').filter((line) => line.trim() !== '');
}

/** Number of non-empty lines of a counter file; 0 when it does not exist. */
export function countLines(dir: string, rel: string): number {
  return readLines(dir, rel).length;
}

/** The lines of a side-effect file, sorted, and the file removed: the next call sees only what ran since. */
export function takeLines(dir: string, rel: string): string[] {
  const lines = readLines(dir, rel).sort();
  fs.rmSync(resolveIn(dir, rel), { force: true });
  return lines;
}

/** Sets a file's mtime (and atime); default: now. */
export function touch(dir: string, rel: string, time: Date = new Date()): void {
  fs.utimesSync(resolveIn(dir, rel), time, time);
}

/** git in tests: a fixed identity, and no user or system config (signing, hooks, default branch) */
const GIT_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: 'uet test',
  GIT_AUTHOR_EMAIL: 'uet-test@example.invalid',
  GIT_COMMITTER_NAME: 'uet test',
  GIT_COMMITTER_EMAIL: 'uet-test@example.invalid',
  GIT_CONFIG_GLOBAL: os.devNull,
  GIT_CONFIG_NOSYSTEM: '1',
};

/** Environment for children: the parent's, with GIT_ENV and without colour forcing. */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...GIT_ENV };
  // uvu sets FORCE_COLOR=1 in its own process; the CLI's output must be plain in tests
  delete env.FORCE_COLOR;
  env.NO_COLOR = '1';
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs git synchronously in dir; throws with git's stderr on failure; returns stdout without the final newline. */
export function git(dir: string, ...args: string[]): string {
  const res = spawnSync('git', args, { cwd: dir, env: childEnv(), encoding: 'utf8' });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    throw new Error(`git ${args.join(' ')} exited ${res.status ?? res.signal}: ${res.stderr.trim()}`);
  }
  return res.stdout.replace(/\n$/, '');
}

/** git init (branch main) and one commit of everything in dir. */
export function gitInit(dir: string): void {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'initial');
}

/**
 * Spawns the CLI (or opts.script) with node in cwd; stdout/stderr are pipes, stdin is a pipe.
 * The child leads its own process group, so `killGroup(child, 'SIGINT')` behaves like Ctrl-C
 * on a terminal (the CLI and the tasks it started all get the signal), while `child.kill(sig)`
 * signals the CLI alone. Read its output with `collect(child)`: a pipe nobody reads fills up
 * (about 64 KB) and then blocks the CLI.
 */
export function spawnUet(cwd: string, args: string[], opts: RunOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [opts.script ?? UET_BIN, ...args], {
    cwd,
    env: childEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin?.on('error', () => {}); // the child may exit before reading its input
  child.stdin?.end(opts.input ?? '');
  return child;
}

/** A uet command left running (watch, serve), its output read as it comes. */
export interface RunningUet {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** signals the CLI alone (SIGINT: Ctrl-C) and waits for it to exit */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** waits for the CLI to exit by itself */
  finished(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Reads a spawned CLI's output as it comes (spawnUet's child by default), for commands that run until stopped. */
export function startUet(cwd: string, args: string[], child: ChildProcess = spawnUet(cwd, args)): RunningUet {
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const done = new Promise<{ code: number | null }>((resolve) => child.on('exit', (code) => resolve({ code })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGINT') {
      child.kill(signal);
      const { code } = await done;
      return { code, stdout: out, stderr: err };
    },
    async finished() {
      const { code } = await done;
      return { code, stdout: out, stderr: err };
    },
  };
}

/** Sends a signal to the child's whole process group (the CLI and its tasks). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Collects a spawned child's output until it exits (killing its group after timeoutMs). */
export function collect(child: ChildProcess, timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    let grace: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      if (timedOut) stderr += `\n[runUet] killed after ${timeoutMs} ms (timeout)\n`;
      resolve({ code, signal, stdout, stderr, timedOut });
    };
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    });
    // 'close' waits for both pipes to drain; if a stray grandchild keeps them open after the
    // child exited, give up on the rest of the output after a grace period
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, 2_000);
    });
  });
}

/** Runs the CLI in cwd to completion. Never rejects for a non-zero exit: check `code`. */
export function runUet(cwd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return collect(spawnUet(cwd, args, opts), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

/** Polls until check() is true; rejects after timeoutMs. For kill tests: wait for a task to start. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`waitFor: ${what} not met after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Parses NDJSON output (`--json`): one object per non-empty line; throws naming the bad line. */
export function parseEvents(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`parseEvents: line ${i + 1} is not JSON: ${line}`);
      }
    });
}

/**
 * What the newest run's log says of the no-op proof: how many tasks a hinted build left out as
 * unchanged (undefined: it was not narrowed), whether the fast path answered it, whether it
 * wrote a proof.
 */
export async function lastRunProof(dir: string): Promise<{ unchanged: number | undefined; fastPath: boolean; proofWritten: boolean }> {
  const events = parseEvents((await runUet(dir, ['runs', 'last', '--json'])).stdout);
  const unchanged = events.find((e) => e['type'] === 'unchanged');
  return {
    unchanged: unchanged === undefined ? undefined : (unchanged['tasks'] as number),
    fastPath: events.some((e) => e['type'] === 'noop-proof'),
    proofWritten: events.some((e) => e['type'] === 'proof-written' && e['written'] === true),
  };
}

/**
 * Builds (with `build`) until a no-op proof is in place: the build wrote one, or answered from
 * one (which stays valid). Files changed just before a build may still be racy, and it writes
 * none: then the racy window is waited out and the next build must run nothing (`ran` takes
 * the tasks' own record of what ran) and write one.
 */
export async function buildUntilProof(dir: string, build: () => Promise<unknown>, ran: () => readonly string[]): Promise<void> {
  await build();
  ran();
  const first = await lastRunProof(dir);
  if (first.proofWritten || first.fastPath) return;
  await sleep(RACY_MS + 100);
  await build();
  assert.equal(ran(), []);
  assert.ok((await lastRunProof(dir)).proofWritten, `a proof was written: ${(await runUet(dir, ['runs', 'last'])).stdout}`);
}

/** Alive and not a zombie (an orphan's zombie may linger where PID 1 does not reap). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Every file under dir as path -> content (latin1, byte-exact; a symlink as `-> target`),
 * skipping the root-relative paths in `skip`: for "the tree is byte-identical" assertions.
 */
export function snapshotTree(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (skip.includes(r)) continue;
      if (e.isSymbolicLink()) out[r] = `-> ${fs.readlinkSync(path.join(dir, r))}`;
      else if (e.isDirectory()) {
        out[`${r}/`] = '';
        walk(r);
      } else out[r] = fs.readFileSync(path.join(dir, r)).toString('latin1');
    }
  };
  walk('');
  return out;
}
