/**
 * `uet watch`: wire the real services to a watch session (lib/watch/session.ts), hold the
 * project lock while watching, print what changed, what re-ran and the summary of each run,
 * and stop on `q` or Ctrl-C with every task's process tree gone.
 */
import os from 'node:os';
import path from 'node:path';
import { createExplainStore } from '../build/explain-store.js';
import { createProjectFiles } from '../build/project-files.js';
import type { Reporter } from '../build/services.js';
import { openCacheStore } from '../cache/store.js';
import { openFreshLog } from '../cache/fresh-log.js';
import type { CacheStore } from '../cache/types.js';
import { createRunLog } from '../events/run-log.js';
import type { RunEvent, WatchEvent } from '../events/types.js';
import { launcherFromEnv } from '../exec/launcher.js';
import { createBuildExecutor } from '../exec/pool.js';
import { loadCompiledProject, redefinedSince, sameSpecFileList } from '../graph/graph-cache.js';
import { ok } from '../util/result.js';
import { createGlobber } from '../hash/globber.js';
import { Breakers, breakerConfig } from '../build/breaker.js';
import { Ledger } from '../patch/ledger.js';
import { createPatchRunner } from '../patch/service.js';
import { parseDuration } from '../spec/durations.js';
import { sleep } from '../util/sleep.js';
import { realClock } from '../watch/clock.js';
import type { RunReport, WatchHost } from '../watch/session.js';
import { WatchSession } from '../watch/session.js';
import { watchSettings } from '../watch/settings.js';
import type { InterruptSource } from './build-command.js';
import { summaryLine, targetLabel } from './summary.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, lockProject, openTargets } from './context.js';
import { releaseYoungGeneration } from './heap-tuning.js';
import type { Verbosity } from './reporter.js';
import { createJsonReporter, createTextReporter } from './reporter.js';

export interface WatchFlags {
  readonly dir?: string;
  readonly jobs?: number;
  readonly json: boolean;
  readonly verbosity: Verbosity;
  readonly noCache: boolean;
  readonly replayLogs: boolean;
}

/** Single keys typed by the user (`q` quits); wired by the caller, like signals. */
export interface KeySource {
  onKey(handler: (key: string) => void): () => void;
}

const CLEAR_SCREEN = '\x1b[2J\x1b[3J\x1b[H';
const LISTED_FILES = 5;

export async function watchCommand(io: Io, targets: readonly string[], flags: WatchFlags, signals: InterruptSource, keys: KeySource): Promise<number> {
  const opened = await openTargets(io, flags.dir, targets, flags.json);
  if (!opened.ok) return opened.error;
  const { root, uetDir, hasher, loaded } = opened.value;
  const project = loaded.project;
  /** the spec files (and their content hashes) of the graph the session runs on */
  let specFiles = loaded.files;

  // held while watching: a build elsewhere waits, and says who holds it
  const lock = await lockProject(io, uetDir);
  if (!lock) return EXIT_FAILED;

  const config = project.spec.config;
  const jobs = Math.max(1, flags.jobs ?? (config.concurrency === 'auto' ? os.availableParallelism() : config.concurrency));
  let cache: CacheStore | undefined;
  if (!flags.noCache) {
    try {
      cache = await openCacheStore(path.join(root, config.cache.dir));
    } catch (e) {
      io.stderr.write(`warning: cache at ${config.cache.dir} could not be opened (${String(e)}); building without it\n`);
    }
  }
  const freshLog = await openFreshLog(path.join(uetDir, 'fresh.log'), 'whole');
  const executor = createBuildExecutor({ jobs, launcher: launcherFromEnv(io.env) });
  // the breakers' events go to the run log of whichever run is current
  let emitBreaker: (ev: RunEvent) => void = () => {};
  const breakers = Breakers.load(uetDir, breakerConfig(config.circuitBreaker, parseDuration), (c) => emitBreaker({ type: 'breaker', runId: '', at: Date.now(), ...c }));
  const out = (line: string): void => (flags.json ? undefined : io.stdout.write(`${line}\n`));
  const json = (ev: object): void => io.stdout.write(`${JSON.stringify(ev)}\n`);

  const globber = createGlobber(root, { ignoreDirs: ['.git', 'node_modules', '.uet', `${config.cache.dir}/`] });
  const explain = createExplainStore(uetDir);
  const files = createProjectFiles(root);
  const host: WatchHost = {
    root,
    services: { hasher, globber },
    async servicesFor(runId, current, emit) {
      const ledger = await Ledger.open(uetDir, (t) => emit({ type: 'patch', runId, at: Date.now(), ...t }));
      const patches = createPatchRunner({
        root,
        uetDir,
        project: current,
        ledger,
        runId,
        dryRun: false,
        expand: (globs) => globber.expand(globs),
        breaker: (task, code, reason) => emit({ type: 'fix-breaker', runId, at: Date.now(), task, code, reason }),
        warn: (message) => emit({ type: 'warning', runId, at: Date.now(), message }),
      });
      return { root, hasher, globber, cache, freshLog, executor, explain, files, emit, patches, breakers, now: Date.now, sleep, random: Math.random, hostEnv: io.env };
    },
    jobs,
    replayLogs: flags.replayLogs,
    clock: realClock,
    async compile() {
      const again = await loadCompiledProject(root, uetDir, hasher, { compareWithLast: true });
      if (!again.ok) return again;
      // the session's graph is the last one loaded: the graph cache another command wrote
      // since (uet validate, uet graph) is not compared with
      const earlier = specFiles;
      const redefined = redefinedSince(again.value, (files) => sameSpecFileList(files, earlier));
      specFiles = again.value.files;
      return ok({ project: again.value.project, redefined });
    },
    async openRun(runId, tasks, runTargets): Promise<RunReport> {
      const runLog = await createRunLog(uetDir, runId);
      const reporter: Reporter = flags.json ? createJsonReporter(io.stdout) : createTextReporter(io.stdout, { verbosity: flags.verbosity, total: tasks, dryRun: false });
      const label = targetLabel(project, runTargets);
      const emit = (ev: RunEvent, output?: string): void => {
        runLog.append(ev);
        reporter.event(ev, output);
      };
      emitBreaker = (ev) => emit({ ...ev, runId });
      return {
        emit,
        async finish(outcome, s) {
          const end = { type: 'run-end', runId, at: Date.now(), status: outcome.interrupted ? 'interrupted' : outcome.failed ? 'failed' : 'success', counts: outcome.counts, durationMs: s.durationMs } as const;
          runLog.append(end);
          reporter.event(end);
          await runLog.close();
          reporter.summary(summaryLine(label, s.tasks, outcome, s.durationMs, false));
          reporter.close();
        },
      };
    },
    report(ev: WatchEvent) {
      if (flags.json) return json(ev);
      switch (ev.type) {
        case 'watch-change': {
          if (ev.during === 'idle' && io.stdout.isTTY && flags.verbosity !== 'verbose') io.stdout.write(CLEAR_SCREEN);
          const shown = ev.files.slice(0, LISTED_FILES).join(', ') + (ev.files.length > LISTED_FILES ? ` (+${ev.files.length - LISTED_FILES} more)` : '');
          const then = ev.during === 'queue' ? ' — runs after the current run' : ev.during === 'restart' ? ' — restarting what it affects' : '';
          out(`changed: ${shown}${ev.spec ? ' (spec: compiling again)' : ''}${then}`);
          return;
        }
        case 'watch-spec-error':
          for (const e of ev.errors) io.stderr.write(`${e}\n`);
          io.stderr.write(`spec error: still watching with the last good graph\n`);
          return;
        case 'watch-idle':
          out(`watching ${ev.files} file${ev.files === 1 ? '' : 's'}${io.stdout.isTTY ? ' — press q to quit' : ''}`);
          return;
      }
    },
    warn(message) {
      if (flags.json) json({ type: 'warning', at: Date.now(), message });
      else io.stderr.write(`warning: ${message}\n`);
    },
  };

  const session = new WatchSession(host, project, targets, watchSettings(config));
  let code = EXIT_OK;
  const stopped = new Promise<void>((resolve) => {
    const stopListening = signals.onInterrupt(() => {
      code = EXIT_INTERRUPTED;
      stopListening();
      stopKeys();
      resolve();
    });
    const stopKeys = keys.onKey((key) => {
      if (key !== 'q' && key !== 'Q') return;
      stopListening();
      stopKeys();
      resolve();
    });
  });
  // loading is done: the session's builds run tasks, where a larger young generation pays
  // (lib/cli/heap-tuning.ts)
  releaseYoungGeneration();
  const started = session.start();
  started.catch(() => {}); // awaited below, once stopped
  await stopped;
  try {
    await session.close();
    await started;
  } finally {
    await freshLog.close();
    await hasher.flush();
    await breakers.save();
    await executor.close();
    lock.release();
  }
  if (!flags.json) io.stderr.write(code === EXIT_INTERRUPTED ? 'interrupted: stopped watching\n' : 'stopped watching\n');
  return code;
}

/**
 * Keys from stdin: on a terminal, single key presses (raw mode; Ctrl-C then arrives as a key
 * and is turned back into SIGINT); elsewhere, lines (`q` + Enter). An ended stdin (a job in the
 * background, CI) is not a request to stop: only q or a signal is.
 */
export const stdinKeys: KeySource = {
  onKey(handler) {
    const stdin = process.stdin;
    const raw = stdin.isTTY === true;
    const onData = (chunk: Buffer | string): void => {
      const text = chunk.toString();
      if (raw && text.includes('\x03')) {
        process.kill(process.pid, 'SIGINT');
        return;
      }
      for (const key of raw ? [...text] : text.split(/\r?\n/).map((l) => l.trim())) handler(key);
    };
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    return () => {
      stdin.off('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      // an open pipe would keep the process alive after the command returned
      stdin.unref();
    };
  },
};
