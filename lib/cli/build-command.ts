/**
 * `uet build`: wire the real services to the scheduler, hold the project lock, report.
 */
import os from 'node:os';
import path from 'node:path';
import { createExplainStore } from '../build/explain-store.js';
import { createProjectFiles } from '../build/project-files.js';
import type { BuildOutcome } from '../build/runner.js';
import { Breakers, breakerConfig } from '../build/breaker.js';
import { Build } from '../build/runner.js';
import { WorktreeWorkspaces } from '../build/worktree-workspaces.js';
import type { Reporter } from '../build/services.js';
import type { TieredCacheStore } from '../cache/tiered.js';
import type { CacheFailure, CacheStore } from '../cache/types.js';
import { openFreshLog } from '../cache/fresh-log.js';
import { createRunLog } from '../events/run-log.js';
import type { RunEvent, RunLog } from '../events/types.js';
import { launcherFromEnv } from '../exec/launcher.js';
import { createBuildExecutor, createDirectExecutor } from '../exec/pool.js';
import { threadLauncher } from '../exec/spawn.js';
import { countTasks, type CompiledProject } from '../graph/project.js';
import { planClosure, planTaskCount, reachesEveryNode } from '../graph/targets.js';
import { TaskGraph } from '../graph/task-graph.js';
import { createFileHasher } from '../hash/file-hasher.js';
import { createGlobber } from '../hash/globber.js';
import { Ledger } from '../patch/ledger.js';
import { createPatchRunner } from '../patch/service.js';
import { parseDuration } from '../spec/durations.js';
import { ok } from '../util/result.js';
import { sleep } from '../util/sleep.js';
import { runId as makeRunId } from '../util/run-id.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, diagnosticLines, lockProject, openTargets, specFailed } from './context.js';
import { TaskHeap, UNTUNED_HEAP } from './heap-tuning.js';
import { HashObserver, writeNoopProof } from './noop-proof-writer.js';
import { hintHolds, narrowPlan } from './proof-hint.js';
import type { ProofHint } from '../build/noop-proof.js';
import { summaryLine, targetLabel } from './summary.js';
import type { ResidentBuild } from './resident.js';
import { gitPreflight, isolatedWorkstreams } from './isolation.js';
import type { Verbosity } from './reporter.js';
import { createJsonReporter, createTextReporter } from './reporter.js';

export interface BuildFlags {
  readonly dir?: string;
  readonly jobs?: number;
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly keepGoing: boolean;
  readonly json: boolean;
  readonly verbosity: Verbosity;
  readonly noCache: boolean;
  readonly replayLogs: boolean;
  /** leave isolated workstreams' branches for the user instead of merging them */
  readonly noIntegrate: boolean;
}

/** Signals are wired by the caller (main), so tests can drive the build in-process. */
export interface InterruptSource {
  onInterrupt(handler: () => void): () => void;
}

/** a narrowed plan with at most this many tasks runs them without the thread pool (where it has one: createBuildExecutor) */
export const DIRECT_PLAN_TASKS = 32;

/** `resident`: the build runs in `uet serve`, on what that process keeps loaded (lib/cli/resident.ts). */
export async function buildCommand(io: Io, targets: readonly string[], flags: BuildFlags, signals: InterruptSource, hint?: ProofHint, resident?: ResidentBuild): Promise<number> {
  const t0 = Date.now();
  const launcher = launcherFromEnv(io.env);
  // A few files changed since the last build: its few tasks will most likely run, through
  // this thread's first fork server (createBuildExecutor), which boots (~15-20 ms) while the
  // project loads.
  if (hint && !resident && !flags.dryRun && !flags.force) void threadLauncher(launcher).warm?.();
  /** what the build's hasher answered, spec files included, for the no-op proof */
  const observed = new HashObserver();
  const heap = new TaskHeap(resident ? UNTUNED_HEAP : undefined);
  const opened = await openTargets(io, flags.dir, targets, flags.json, {
    wrapHasher: (h) => observed.wrap(h),
    onLoadGarbage: () => heap.loadGarbage(),
    ...(resident ? { resident: resident.project } : {}),
    ...(hint && !flags.force ? { hint } : {}),
  });
  if (!opened.ok) return opened.error;
  const { root, uetDir, hasher, loaded, targetKeys } = opened.value;
  const project = loaded.project;
  // A build the proof's hint may narrow asks its plan only `has` (and how many tasks it holds)
  // until it knows: a build without targets plans every node, and needs no walk of them to say
  // so. A build that is not narrowed after all walks them (below), as any other build does.
  const mayNarrow = hint !== undefined && !flags.force && !flags.dryRun;
  let plan: ReadonlySet<string> = mayNarrow && reachesEveryNode(project, targetKeys) ? project.graph.everyNode() : planClosure(project, targetKeys);
  const taskCount = planTaskCount(project, plan);
  const label = targetLabel(project, targets);

  // Git is checked before anything runs: a refused integration must not come after the work.
  const gitReady = flags.dryRun ? ok(undefined) : await gitPreflight(root, isolatedWorkstreams(project, plan), !flags.noIntegrate);
  if (!gitReady.ok) {
    await hasher.flush();
    if (gitReady.error.kind === 'spec') return specFailed(io, gitReady.error.diagnostics);
    io.stderr.write(`error: ${gitReady.error.message}\n`);
    return EXIT_FAILED;
  }

  let lock: { release(): void } | undefined;
  // a resident process holds the lock for all the builds it runs
  if (!flags.dryRun && !resident) {
    lock = await lockProject(io, uetDir);
    if (!lock) return EXIT_FAILED;
  }

  const config = project.spec.config;
  const jobs = flags.jobs ?? (config.concurrency === 'auto' ? os.availableParallelism() : config.concurrency);
  const ignoreDirs = ['.git', 'node_modules', '.uet', `${config.cache.dir}/`];
  const globber = createGlobber(root, { ignoreDirs });
  let cache: CacheStore | undefined;
  /** the real (local + shared) store, once a task needed it */
  let tiered: TieredCacheStore | undefined;
  const runId = makeRunId();
  const reporter: Reporter = flags.json
    ? createJsonReporter(io.stdout)
    : createTextReporter(io.stdout, { verbosity: flags.verbosity, total: taskCount, dryRun: flags.dryRun });
  let runLog: RunLog | undefined;
  const emit = (ev: RunEvent, output?: string): void => {
    runLog?.append(ev);
    reporter.event(ev, output);
    heap.observe(ev);
  };

  if (!flags.noCache) {
    // Opened on first use: a build that finds everything fresh never loads cacache or redis.
    cache = lazyCache(async () => {
      const { openProjectCache } = await import('../cache/open.js');
      tiered = await openProjectCache(root, config, io.env, {
        dryRun: flags.dryRun,
        warn: (message) => emit({ type: 'warning', runId, at: Date.now(), message }),
      });
      return tiered;
    }, (message) => emit({ type: 'warning', runId, at: Date.now(), message }));
  }

  const freshLog = resident ? resident.project.freshLog() : await openFreshLog(path.join(uetDir, 'fresh.log'));
  if (!flags.dryRun) runLog = await createRunLog(uetDir, runId);
  emit({ type: 'run-start', runId, at: t0, targets: [...targets], argv: [...(resident?.argv ?? process.argv.slice(2))], pid: process.pid, tasks: taskCount });
  const git = gitReady.value;
  if (git) {
    // Worktrees a crashed build left behind go first (we hold the lock: no build uses them).
    const stale = await git.git.cleanStale();
    if (!stale.ok) emit({ type: 'warning', runId, at: Date.now(), message: `could not clean old worktrees: ${stale.error.command}: ${stale.error.message}` });
    else for (const p of stale.value.worktreesRemoved) emit({ type: 'worktree', runId, at: Date.now(), workstream: p.split(path.sep).slice(-2).join('/'), op: 'cleaned', branch: '', path: p, detail: 'left by an earlier build' });
  }
  const ledger = await Ledger.open(uetDir, (t) => emit({ type: 'patch', runId, at: Date.now(), ...t }));
  // One patch pipeline per checkout: the build's, and one per worktree (same ledger and state).
  // Patch files are read from the user's checkout (an AI tool's fresh patch need not be committed).
  const patchRunnerFor = (checkout: string) =>
    createPatchRunner({
      root: checkout,
      patchRoot: root,
      uetDir,
      project,
      ledger,
      runId,
      dryRun: flags.dryRun,
      expand: (globs) => globber.expand(globs),
      breaker: (task, code, reason) => emit({ type: 'fix-breaker', runId, at: Date.now(), task, code, reason }),
      warn: (message) => emit({ type: 'warning', runId, at: Date.now(), message }),
    });
  const patches = patchRunnerFor(root);
  const workspaces =
    git?.isolated === true
      ? new WorktreeWorkspaces({
          project,
          git: git.git,
          runId,
          into: git.into,
          integrate: !flags.noIntegrate,
          emit: (ev) => emit({ ...ev, runId, at: Date.now() } as RunEvent),
          makeView: async (viewRoot, statIndexPath) => {
            const viewGlobber = createGlobber(viewRoot, { ignoreDirs });
            return {
              root: viewRoot,
              hasher: await createFileHasher(viewRoot, statIndexPath),
              globber: viewGlobber,
              files: createProjectFiles(viewRoot),
              patches: patchRunnerFor(viewRoot),
            };
          },
        })
      : undefined;
  const breakers = flags.dryRun
    ? undefined
    : Breakers.load(uetDir, breakerConfig(config.circuitBreaker, parseDuration), (c) => emit({ type: 'breaker', runId, at: Date.now(), ...c }));

  // The fast path found only a few files changed since the last build's proof. Checked again
  // under the lock: the freshness log must still be the one the proof saw.
  const narrowed = mayNarrow && hintHolds(hint, root, targets, uetDir) ? narrowPlan(project, plan, hint, (id) => freshLog.get(id), loaded, taskCount) : undefined;
  if (narrowed && hint) emit({ type: 'unchanged', runId, at: Date.now(), tasks: narrowed.unchangedTasks, changed: [...hint.changed, ...hint.relisted] });
  else if (TaskGraph.isEveryNode(plan)) plan = planClosure(project, targetKeys);
  const executor = flags.dryRun
    ? createDirectExecutor({ launcher, keepLauncher: resident !== undefined })
    : createBuildExecutor({
        jobs: Math.max(1, jobs),
        launcher,
        keepLauncher: resident !== undefined,
        fewTasks: narrowed !== undefined && countTasks(narrowed.plan) <= DIRECT_PLAN_TASKS,
        onWorker: (worker, state, task) => emit({ type: 'worker', runId, at: Date.now(), worker, state, ...(task !== undefined ? { task } : {}) }),
      });

  const build = new Build(
    project,
    narrowed?.plan ?? plan,
    {
      patches,
      root,
      hasher,
      globber,
      cache,
      freshLog,
      executor,
      explain: resident?.project.explain ?? createExplainStore(uetDir),
      files: createProjectFiles(root),
      emit,
      now: Date.now,
      sleep,
      random: Math.random,
      ...(breakers ? { breakers } : {}),
      ...(workspaces ? { workspaces } : {}),
      hostEnv: io.env,
    },
    { runId, jobs: Math.max(1, jobs), force: flags.force, keepGoing: flags.keepGoing, dryRun: flags.dryRun, replayLogs: flags.replayLogs, shell: config.shell, ...(narrowed ? { earlier: narrowed.earlier } : {}) },
  );

  // First Ctrl-C drains (nothing new starts, running tasks finish and are recorded);
  // the second kills every running process tree now.
  let interrupts = 0;
  const stopListening = signals.onInterrupt(() => {
    interrupts++;
    if (interrupts === 1) {
      io.stderr.write('\ninterrupted: starting nothing new, waiting for running tasks to finish (Ctrl-C again to kill them)\n');
      build.drain();
    } else {
      if (interrupts === 2) io.stderr.write('\ninterrupted again: killing running tasks\n');
      build.interrupt();
    }
  });

  let outcome: BuildOutcome;
  try {
    // loading is done: from here a larger young generation pays (lib/cli/heap-tuning.ts)
    heap.tasksStarting({ compiled: !loaded.fromCache });
    outcome = await build.run();
    if (narrowed) outcome = { ...outcome, counts: { ...outcome.counts, fresh: outcome.counts.fresh + narrowed.unchangedTasks } };
  } finally {
    stopListening();
    await freshLog.close();
    await hasher.flush();
    await breakers?.save();
    await workspaces?.close();
    await executor.close();
  }
  const status = outcome.interrupted ? 'interrupted' : outcome.failed ? 'failed' : 'success';
  const code = outcome.interrupted ? EXIT_INTERRUPTED : outcome.failed ? EXIT_FAILED : EXIT_OK;
  let durationMs: number | undefined;
  const report = (): void => {
    durationMs ??= Date.now() - t0;
    if (outcome.nonBlockingGateFailures.length > 0 && !flags.json) {
      reporter.event({ type: 'warning', runId, at: Date.now(), message: `non-blocking gate${outcome.nonBlockingGateFailures.length > 1 ? 's' : ''} failed: ${outcome.nonBlockingGateFailures.join(', ')}` });
    }
    reporter.summary(summaryLine(label, taskCount, outcome, durationMs, flags.dryRun));
    reporter.close();
  };
  // A served build's shell is answered as soon as it has all it will be shown (what follows
  // prints nothing in text mode, bar a rare warning, which the server's log keeps): ~15-35 ms
  // of pruning and writing the next no-op proof at 10,000 tasks. --json streams the run's
  // events to the end, and --verbose may print the proof's fate, so those answer last.
  const answerEarly = resident !== undefined && !flags.json && flags.verbosity !== 'verbose';
  if (answerEarly) {
    report();
    resident.answer(code);
  }
  if (tiered) {
    const { maintainProjectCache } = await import('../cache/open.js');
    // under the project lock, after every store has landed; what this build used stays
    // (a build that stored nothing cannot have grown the cache: a no-op does not list it)
    const grew = outcome.counts.ran + outcome.counts.restored > 0 || config.cache.maxAge !== undefined;
    const pruned = flags.dryRun || !grew ? undefined : await maintainProjectCache(root, config, tiered.local, Date.now());
    if (pruned && !pruned.ok) emit({ type: 'warning', runId, at: Date.now(), message: `cache not pruned: ${pruned.error.detail}` });
    const p = pruned?.ok ? pruned.value : undefined;
    emit({ type: 'cache-stats', runId, at: Date.now(), ...tiered.stats(), ...(p ? { pruned: { entries: p.entriesRemoved, bytes: p.bytesRemoved, keptBytes: p.bytesKept } } : {}) });
    await tiered.close();
  }
  if (!flags.dryRun) {
    const notWritten = await writeNoopProof({
      root,
      uetDir,
      project,
      plan,
      targets,
      label,
      taskCount,
      outcome,
      observed,
      records: (taskId) => freshLog.get(taskId),
      globber,
      hasher,
      env: io.env,
      warnings: diagnosticLines(loaded.warnings),
      specFiles: loaded.files,
      startedAt: t0,
      ...(resident?.proofWritten ? { onWritten: (bytes: Buffer) => resident.proofWritten?.(bytes) } : {}),
      ...(narrowed && hint ? { base: { signed: hint.proof.signed, changed: new Set(hint.changed), envNames: hint.proof.envNames, decided: narrowed.plan, respecified: narrowed.respecified, relisted: hint.relisted } } : {}),
    });
    emit({ type: 'proof-written', runId, at: Date.now(), written: notWritten === undefined, ...(notWritten !== undefined ? { reason: notWritten } : {}) });
    await hasher.flush();
  }
  durationMs ??= Date.now() - t0;
  emit({ type: 'run-end', runId, at: Date.now(), status, counts: outcome.counts, durationMs });
  await runLog?.close();
  lock?.release();
  if (!answerEarly) report();
  return code;
}

/**
 * A CacheStore that opens the real one on first use. If opening fails, one warning is given
 * and every call is a miss (or a write that did not happen): the build goes on without a cache.
 */
function lazyCache(open: () => Promise<CacheStore>, warn: (message: string) => void): CacheStore {
  let store: Promise<CacheStore | undefined> | undefined;
  const real = (): Promise<CacheStore | undefined> =>
    (store ??= open().catch((e: unknown) => {
      warn(`the cache could not be opened (${e instanceof Error ? e.message : String(e)}); building without it`);
      return undefined;
    }));
  const unavailable: CacheFailure = { reason: 'io', detail: 'the cache could not be opened' };
  return {
    get: async (key) => (await real())?.get(key),
    put: async (key, taskId, root, outputs, log) => (await real())?.put(key, taskId, root, outputs, log) ?? { ok: false, error: unavailable },
    restore: async (entry, root) => (await real())?.restore(entry, root) ?? { ok: false, error: unavailable },
    readLog: async (entry) => (await real())?.readLog(entry),
    delete: async (key) => (await real())?.delete(key),
    clear: async () => (await real())?.clear(),
  };
}
