/**
 * A watch session: build the targets, then re-run exactly what each batch of changes affects,
 * until closed. Each run is an ordinary Build (lib/build/runner.ts) over a plan restricted to
 * the affected closure; the nodes outside it keep what they ended with in earlier runs.
 *
 *   starting ──first build──▶ building ──run ends, nothing pending──▶ idle
 *                               ▲   │                                  │
 *                               │   └─change: queue → pending          │
 *                               │             restart → supersede the  │
 *                               │               affected nodes, pending │
 *                               └──run ends, pending / change (debounced)┘
 *   any ──close()──▶ closing (the running build is interrupted) ──▶ closed
 *
 * A change to a spec file compiles the graph again; a spec error is reported and the session
 * goes on with the last good graph. The run after it decides the nodes the new graph redefined
 * (lib/graph/graph-changes.ts) and what depends on them, the others keeping what they ended
 * with; when that is not known, every node of the plan. Freshness still decides every task of
 * a plan, so a file saved unchanged re-runs nothing.
 */
import { ulid } from 'ulid';
import type { BuildOutcome, Settled } from '../build/runner.js';
import { Build } from '../build/runner.js';
import type { BuildServices } from '../build/services.js';
import type { RunEvent, WatchEvent } from '../events/types.js';
import { countTasks, type CompiledProject } from '../graph/project.js';
import { planClosure, resolveTargets } from '../graph/targets.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { formatDiagnostic } from '../spec/diagnostic.js';
import type { Result } from '../util/result.js';
import { createBatcher } from './batcher.js';
import type { ChangeBatcher } from './batcher.js';
import type { Clock } from './clock.js';
import { createFailureMemory } from './failure-memory.js';
import { dependentsClosure, watchScope } from './scope.js';
import type { WatchScope } from './scope.js';
import type { WatchSettings } from './settings.js';
import type { FileWatcher } from './watcher.js';
import { watchFolders } from './watcher.js';

/** One run's reporting: its events, then its summary line. */
export interface RunReport {
  emit(ev: RunEvent, output?: string): void;
  finish(outcome: BuildOutcome, summary: { tasks: number; durationMs: number }): Promise<void>;
}

export interface WatchHost {
  readonly root: string;
  /** what the session itself uses between runs (the same objects the runs' services hold) */
  readonly services: Pick<BuildServices, 'hasher' | 'globber'>;
  /** everything one run needs (some services, such as the patch runner, belong to one run) */
  servicesFor(runId: string, project: CompiledProject, emit: BuildServices['emit']): Promise<BuildServices>;
  readonly jobs: number;
  readonly replayLogs: boolean;
  readonly clock: Clock;
  /** compile the spec again (a spec file changed) */
  compile(): Promise<Result<Recompiled, Diagnostic[]>>;
  openRun(runId: string, tasks: number, targets: readonly string[]): Promise<RunReport>;
  report(ev: WatchEvent): void;
  /** the watcher failed (it goes on) */
  warn(message: string): void;
}

/** The graph compiled again, and which of its nodes differ from the session's graph before it (undefined: not known). */
export interface Recompiled {
  readonly project: CompiledProject;
  readonly redefined: ReadonlySet<string> | undefined;
}

interface Pending {
  spec: boolean;
  readonly tasks: Set<string>;
}

export class WatchSession {
  private readonly id = ulid();
  private project: CompiledProject;
  private targetPlan: ReadonlySet<string>;
  private scope: WatchScope;
  private watcher: FileWatcher | undefined;
  private readonly batcher: ChangeBatcher;
  private readonly failures = createFailureMemory();
  /** how every node ended, as of the last run that settled it */
  private known = new Map<string, Settled>();
  private pending: Pending = emptyPending();
  /** files added or removed since the last batch: their folders must be listed again */
  private listed = new Set<string>();
  private current: { build: Build; plan: ReadonlySet<string> } | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;

  constructor(
    private readonly host: WatchHost,
    project: CompiledProject,
    private readonly targets: readonly string[],
    private readonly settings: WatchSettings,
  ) {
    this.project = project;
    this.targetPlan = this.planOf(project) ?? new Set();
    this.scope = watchScope(project, this.targetPlan, settings);
    this.batcher = createBatcher(settings.debounceMs, (paths) => this.onBatch(paths), host.clock);
  }

  /** Watch, then build the targets; resolves once the first build has finished. */
  async start(): Promise<void> {
    this.watcher = this.openWatcher();
    await this.watcher.ready;
    await this.drain(this.targetPlan);
  }

  /** Stop: interrupt the running build (its process trees are killed), stop watching. */
  async close(): Promise<void> {
    this.closing = true;
    this.batcher.close();
    this.current?.build.interrupt();
    await this.loop;
    await this.watcher?.close();
  }

  private openWatcher(): FileWatcher {
    return watchFolders(
      this.host.root,
      this.scope.folders,
      () => this.scope,
      (rel, listed) => {
        if (listed) this.listed.add(rel);
        this.batcher.add(rel);
      },
      (message) => this.host.warn(`watcher: ${message}`),
    );
  }

  private planOf(project: CompiledProject): Set<string> | undefined {
    const keys = resolveTargets(project, this.targets);
    return keys.ok ? planClosure(project, keys.value) : undefined;
  }

  private onBatch(paths: Set<string>): void {
    if (this.closing) return;
    // what uet knows of these files is stale: hash them again; list a folder again only when
    // a file came or went (re-listing a folder of 1,000 files on every save cost 10s of ms)
    for (const p of paths) this.host.services.hasher.forget(p);
    if (this.listed.size > 0) this.host.services.globber.invalidateUnder([...this.listed]);
    this.listed = new Set();
    const c = this.scope.classify(paths);
    if (c.relevant.length === 0) return;
    this.pending.spec ||= c.spec;
    for (const t of c.tasks) this.pending.tasks.add(t);
    const running = this.current;
    this.host.report({
      type: 'watch-change',
      session: this.id,
      at: this.host.clock.now(),
      files: [...c.relevant],
      spec: c.spec,
      tasks: c.tasks.size,
      during: running === undefined ? 'idle' : this.settings.onChange,
    });
    if (running && this.settings.onChange === 'restart') {
      running.build.supersede(c.spec ? running.plan : dependentsClosure(this.project, running.plan, c.tasks));
    }
    void this.drain();
  }

  /**
   * Runs until nothing is pending, then reports idle; one loop at a time, so a change that
   * arrives during a run waits for it (queue) and all such changes make one more run.
   */
  private drain(first?: ReadonlySet<string>): Promise<void> {
    // the loop cannot end between its last look at `pending` and this reset: both are
    // microtasks, and changes arrive from timers
    this.loop ??= this.drainLoop(first).finally(() => {
      this.loop = undefined;
    });
    return this.loop;
  }

  private async drainLoop(first: ReadonlySet<string> | undefined): Promise<void> {
    if (first) await this.runPlan(first);
    for (;;) {
      while (!this.closing && hasWork(this.pending)) {
        const batch = this.pending;
        this.pending = emptyPending();
        await this.runBatch(batch);
      }
      if (this.closing) return;
      await this.idle();
      if (this.closing || !hasWork(this.pending)) return;
    }
  }

  private async runBatch(batch: Pending): Promise<void> {
    let seeds: Iterable<string> = batch.tasks;
    let fullPlan = false;
    if (batch.spec) {
      const compiled = await this.host.compile();
      if (!compiled.ok) {
        this.host.report({ type: 'watch-spec-error', session: this.id, at: this.host.clock.now(), errors: compiled.error.map(formatDiagnostic) });
      } else {
        const { project, redefined } = compiled.value;
        const plan = this.planOf(project);
        if (plan === undefined) {
          const keys = resolveTargets(project, this.targets);
          this.host.report({ type: 'watch-spec-error', session: this.id, at: this.host.clock.now(), errors: keys.ok ? [] : keys.error.map(formatDiagnostic) });
        } else {
          this.adoptGraph(project, plan, redefined !== undefined);
          if (redefined === undefined) fullPlan = true;
          else seeds = [...seeds, ...redefined];
        }
      }
    }
    if (!fullPlan) {
      // tasks of an earlier run that never settled (skipped, superseded) are due too
      const due = [...seeds].filter((k) => this.targetPlan.has(k));
      for (const k of this.targetPlan) {
        const s = this.known.get(k);
        if (s === undefined || s.status === 'skipped') due.push(k);
      }
      seeds = due;
    }
    const plan = fullPlan ? this.targetPlan : dependentsClosure(this.project, this.targetPlan, seeds);
    if (plan.size === 0) return;
    await this.runPlan(plan);
  }

  /**
   * A new graph. `keepKnown`: the nodes it did not redefine are what they were, and keep how
   * they ended (the redefined ones and their dependents are decided next); otherwise keys may
   * mean other things, and nothing earlier is reused but the fresh log.
   */
  private adoptGraph(project: CompiledProject, plan: Set<string>, keepKnown: boolean): void {
    const before = JSON.stringify(this.scope.folders);
    this.project = project;
    this.targetPlan = plan;
    this.scope = watchScope(project, plan, this.settings);
    if (!keepKnown) {
      this.known = new Map();
      this.failures.clear();
    }
    if (JSON.stringify(this.scope.folders) !== before) {
      const old = this.watcher;
      this.watcher = this.openWatcher();
      void old?.close();
    }
  }

  private async runPlan(plan: ReadonlySet<string>): Promise<void> {
    const t0 = this.host.clock.now();
    const runId = ulid();
    const tasks = countTasks(plan);
    const report = await this.host.openRun(runId, tasks, this.targets);
    const services = await this.host.servicesFor(runId, this.project, (ev, output) => report.emit(ev, output));
    const build = new Build(
      this.project,
      plan,
      services,
      {
        runId,
        jobs: this.host.jobs,
        force: false,
        // a failure stops nothing else: the rest of the tree is kept up to date around it
        keepGoing: true,
        dryRun: false,
        replayLogs: this.host.replayLogs,
        shell: this.project.spec.config.shell,
        earlier: this.known,
        failures: this.failures,
      },
    );
    this.current = { build, plan };
    // closed while this run was being set up: it starts nothing
    if (this.closing) build.interrupt();
    report.emit({ type: 'run-start', runId, at: t0, targets: [...this.targets], argv: process.argv.slice(2), pid: process.pid, tasks });
    let outcome: BuildOutcome;
    try {
      outcome = await build.run();
    } finally {
      this.current = undefined;
      await this.host.services.hasher.flush();
    }
    this.known = new Map(build.settledNodes);
    await report.finish(outcome, { tasks, durationMs: this.host.clock.now() - t0 });
  }

  private async idle(): Promise<void> {
    let files = 0;
    try {
      files = (await this.host.services.globber.expand(this.scope.globs)).length;
    } catch {
      /* a folder vanished while listing: the count is only informative */
    }
    this.host.report({ type: 'watch-idle', session: this.id, at: this.host.clock.now(), files });
  }
}

function hasWork(p: Pending): boolean {
  return p.spec || p.tasks.size > 0;
}

function emptyPending(): Pending {
  return { spec: false, tasks: new Set() };
}

