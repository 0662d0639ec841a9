/**
 * The scheduler: walks the planned part of the graph, decides each task's fate (fresh,
 * restore, run) once everything it depends on has finished, and runs what must run within
 * the limits (-j, a phase's max_parallel, conflict groups, parallel_ok: false).
 *
 * Each planned node moves through these states:
 *
 *   waiting ──(all deps settled)──▶ deciding ──▶ fresh ──────────────────────┐
 *      │                               │  └────▶ restore ─ok─▶ restored ─────┤
 *      │                               │            └─corrupt─┐               │
 *      │                               └──────────▶ queued ◀──┘               ├─▶ settled
 *      │                                              │ (slot free)           │
 *      │                                              ▼                       │
 *      │                                           running ─▶ ran | failed ───┘
 *      ├──(a dep failed)────────────────────────────────────▶ blocked ───────┤
 *      └──(build stopping: failure without --keep-going, or Ctrl-C) ▶ skipped ┘
 *
 * Gates and phase barriers settle as soon as their members have (a gate with its own
 * `run` goes through deciding/running like a task). A phase barrier whose members passed
 * first waits for its isolated workstreams' integration (services.workspaces), which may
 * re-check the phase's gates in a nested Build; a failed integration blocks its dependents.
 * A task of an isolated workstream reads and writes through its worktree's FileView.
 */
import path from 'node:path';
import type { OutputFile } from '../cache/types.js';
import type { RunEvent, TaskStatus } from '../events/types.js';
import type { CompiledProject, NodeAttrs } from '../graph/project.js';
import { gateKey, isTaskKey, nodeId, taskKey } from '../graph/project.js';
import type { RunOutcome } from '../exec/types.js';
import type { EnvSpec, GateSpec, PhaseSpec, TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { assertNever, err, ok } from '../util/result.js';
import { decideFreshness } from './decide.js';
import type { KeyParts } from './key.js';
import { baseParts, computeKey, describeChange, diffKeyParts, outputsDigest, sha256 } from './key.js';
import type { BuildServices, FileView, PatchRunner } from './services.js';

export interface BuildOptions {
  readonly runId: string;
  readonly jobs: number;
  readonly force: boolean;
  readonly keepGoing: boolean;
  readonly dryRun: boolean;
  readonly replayLogs: boolean;
  readonly shell: string;
  /** a gate's own `run` runs even when its key is unchanged (the re-check after a merge: its key does not see the merged files) */
  readonly forceGates?: boolean;
  /** how many key changes a reason lists (explain lists them all) */
  readonly reasonDetail?: number;
  /**
   * How nodes outside the plan ended in an earlier build (their digests feed keys, their
   * failures block): watch's last build, or what a narrowed build left undecided. Looked up,
   * never copied: a one-file change in 10,000 tasks leaves ~10,000 of them.
   */
  readonly earlier?: EarlierStates;
  /** watch: failures remembered per key, so a task is not retried until its inputs change */
  readonly failures?: FailureMemory;
}

/** Watch mode's memory of failures (lib/watch/failure-memory.ts). */
export interface FailureMemory {
  /** why the task failed before with exactly this key, if it did */
  failedBefore(taskId: string, key: string): string | undefined;
  failed(taskId: string, key: string, why: string): void;
  /** the task's inputs changed while it ran, from keyBefore to keyAfter (perhaps written by the task itself) */
  changedWhileRunning(taskId: string, keyBefore: string, keyAfter: string): void;
}

/** How nodes outside a build's plan ended (a Map will do). */
export interface EarlierStates {
  get(key: string): Settled | undefined;
  entries(): Iterable<[string, Settled]>;
  /**
   * True when every state `get` gives is fresh or passed, with a digest: a node outside the
   * plan then never blocks a dependent, skips or hides a digest, and a node's dependencies are
   * judged by those inside the plan alone (a narrowed build: a phase barrier has 10,000 of them
   * outside it).
   */
  readonly settledWell?: boolean;
}

/** How a settled node ended, as its dependents see it. */
export interface Settled {
  readonly status: TaskStatus | 'passed' | 'gate-failed';
  /** digest of what the node produced, for downstream keys; undefined = unknown (dry run) */
  readonly digest: string | undefined;
  /** for gates: failed but `blocking: false` — dependents go on */
  readonly nonBlockingFailure?: boolean;
  readonly blockedBy?: string;
}

export interface BuildOutcome {
  readonly counts: Record<TaskStatus, number>;
  readonly gatesFailed: string[];
  readonly nonBlockingGateFailures: string[];
  /** phases whose worktree branches could not be integrated */
  readonly integrationFailed: string[];
  /** tasks that succeeded but whose success was not recorded (an input changed while it ran, or a fix changed them): they run again next build */
  readonly unrecorded: string[];
  readonly interrupted: boolean;
  readonly failed: boolean;
}

const EMPTY_DIGEST = outputsDigest([]);
/**
 * What a phase barrier or a gate without a command passes on once all its dependencies' digests
 * are known: no task's key reads a digest through it (processTask), only that it is known.
 */
const ORDERING_DIGEST = 'ordering';
/** What a task that declares no inputs contributes downstream: it carries no information. */
const NO_KEY_DIGEST = 'no-inputs';

/** Default variables every task gets, on top of the declared ones (documented in README). */
export const DEFAULT_PASS_ENV = ['PATH', 'HOME'];

export class Build {
  private readonly settled = new Map<string, Settled>();
  private readonly waitingOn = new Map<string, number>();
  /** each node's dependencies inside the plan, when some of its dependencies are not (see run) */
  private readonly plannedDeps = new Map<string, string[]>();
  private readonly runQueue: Array<{ key: string; start: () => Promise<void> }> = [];
  private running = 0;
  /** runs whose command is done (its slot free again) but whose result is not settled yet */
  private finishing = 0;
  private readonly runningByPhase = new Map<string, number>();
  private exclusiveRunning = false;
  private readonly groupHolder = new Map<string, string>();
  private readonly wsRemaining = new Map<string, number>();
  private stopping = false;
  private interrupted = false;
  private readonly toolVersions = new Map<string, Promise<string>>();
  /** writes that need not delay dependents (cache stores, explain records, logs); awaited before run() returns */
  private readonly background = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private resolveDone: (() => void) | undefined;
  private pendingNodes: number;
  private decisionSlots = 64;
  /** decisions in flight, waiting for a slot or not */
  private deciding = 0;
  private readonly decisionQueue: Array<() => void> = [];
  /** watch, on_change restart: nodes a change made obsolete; they settle as skipped */
  private readonly superseded = new Set<string>();
  private readonly taskAborts = new Map<string, AbortController>();

  readonly counts: Record<TaskStatus, number> = { fresh: 0, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0 };
  readonly gatesFailed: string[] = [];
  readonly nonBlockingGateFailures: string[] = [];
  readonly integrationFailed: string[] = [];
  private readonly unrecorded: string[] = [];
  /** workstreams with a task that did not pass */
  private readonly wsFailed = new Set<string>();
  /** the gates' re-check during an integration, so Ctrl-C reaches it */
  private recheck: Build | undefined;

  constructor(
    private readonly project: CompiledProject,
    private readonly plan: ReadonlySet<string>,
    private readonly svc: BuildServices,
    private readonly opts: BuildOptions,
    /** how nodes outside the plan settled (a re-check of gates sees the build it is part of) */
    private readonly outside: ReadonlyMap<string, Settled> = new Map(),
  ) {
    this.pendingNodes = plan.size;
    for (const k of plan) {
      const attrs = project.graph.getNodeAttributes(k);
      if (attrs.kind === 'task') {
        const ws = `${attrs.task.phase}/${attrs.task.workstream}`;
        this.wsRemaining.set(ws, (this.wsRemaining.get(ws) ?? 0) + 1);
      }
    }
  }

  /** First Ctrl-C: start nothing new, let running tasks finish (and be recorded). */
  drain(): void {
    this.interrupted = true;
    this.stopping = true;
    this.recheck?.drain();
    this.pump();
  }

  /** Second Ctrl-C: kill running process trees now; nothing they produced is recorded. */
  interrupt(): void {
    this.interrupted = true;
    this.stopping = true;
    this.abort.abort();
    // each running task listens to its own controller only (see runTask)
    for (const a of this.taskAborts.values()) a.abort();
    this.recheck?.interrupt();
    this.svc.executor.killAll();
  }

  /**
   * Watch, on_change restart: these nodes are obsolete. Running ones have their process trees
   * killed, the others never start; all settle as skipped and nothing they produced is recorded.
   * The caller passes a set closed under dependents, so nothing downstream runs on them.
   */
  supersede(keys: Iterable<string>): void {
    for (const k of keys) {
      this.superseded.add(k);
      this.taskAborts.get(k)?.abort();
    }
  }

  /** How each node of the plan (and the earlier ones given) ended, for the next build of a watch session. */
  get settledNodes(): ReadonlyMap<string, Settled> {
    const all = new Map<string, Settled>();
    for (const [k, s] of this.opts.earlier?.entries() ?? []) if (!this.plan.has(k)) all.set(k, s);
    for (const [k, s] of this.settled) all.set(k, s);
    return all;
  }

  async run(): Promise<BuildOutcome> {
    const done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    const roots: string[] = [];
    // counted along the plan's own edges, from each node to its dependents: a narrowed build's
    // phase barrier has 10,000 dependencies, a handful of them in the plan
    for (const k of this.plan) this.waitingOn.set(k, 0);
    const narrowed = this.narrowed();
    for (const k of this.plan) {
      for (const next of this.project.graph.outNeighbors(k)) {
        if (!this.plan.has(next)) continue;
        this.waitingOn.set(next, this.waitingOn.get(next)! + 1);
        if (narrowed) {
          const deps = this.plannedDeps.get(next);
          if (deps === undefined) this.plannedDeps.set(next, [k]);
          else deps.push(k);
        }
      }
    }
    for (const k of this.plan) if (this.waitingOn.get(k) === 0) roots.push(k);
    if (this.plan.size === 0) this.resolveDone?.();
    roots.sort((a, b) => this.topoIndex(a) - this.topoIndex(b));
    for (const k of roots) this.startNode(k);
    await done;
    while (this.background.size > 0) await Promise.all([...this.background]);
    return {
      counts: this.counts,
      gatesFailed: this.gatesFailed,
      nonBlockingGateFailures: this.nonBlockingGateFailures,
      integrationFailed: this.integrationFailed,
      unrecorded: this.unrecorded,
      interrupted: this.interrupted,
      failed: this.counts.failed > 0 || this.gatesFailed.length > 0 || this.integrationFailed.length > 0,
    };
  }

  private startNode(key: string): void {
    const attrs = this.project.graph.getNodeAttributes(key);
    // one pass over the dependencies: a phase barrier has every task of its phase
    const deps = this.dependencies(key);
    if (deps.blocker !== undefined) return this.settleBlocked(key, attrs, deps.blocker);
    switch (attrs.kind) {
      case 'task':
        if (this.stopping || this.superseded.has(key)) return this.settleSkipped(key, attrs);
        void this.withDecisionSlot(() => this.processTask(key, attrs.task, undefined));
        return;
      case 'gate':
        if (this.stopping || this.superseded.has(key)) return this.settleSkipped(key, attrs);
        if (attrs.gate.run === undefined) return this.settleGate(key, attrs.gate, true, undefined);
        void this.withDecisionSlot(() => this.processTask(key, gateAsTask(attrs.gate, this.project.spec.config.env), attrs.gate));
        return;
      case 'phase': {
        const status = deps.anySkipped ? 'skipped' : 'passed';
        if (status === 'passed' && this.svc.workspaces) {
          void this.integrate(key, attrs.phase);
          return;
        }
        this.settle(key, { status, digest: deps.digest });
        this.emit({ type: 'phase-end', phase: attrs.id, status: status === 'passed' ? 'passed' : 'blocked' });
        return;
      }
      default:
        return assertNever(attrs, 'node');
    }
  }

  /** how a node ended: in this build, or (outside the plan) in the earlier one */
  private stateOf(key: string): Settled | undefined {
    return this.settled.get(key) ?? (this.opts.earlier !== undefined && !this.plan.has(key) ? this.opts.earlier.get(key) : undefined);
  }

  /** as stateOf, and, for a re-check of gates, as the build it is part of settled it */
  private settledAs(key: string): Settled | undefined {
    return this.stateOf(key) ?? this.outside.get(key);
  }

  private viewOf(task: TaskSpec): Promise<Result<FileView, string>> {
    const isolated = this.svc.workspaces?.viewOf(task);
    if (isolated) return isolated;
    return Promise.resolve(ok(this.mainView()));
  }

  /** The user's checkout. */
  private mainView(): FileView {
    const { root, hasher, globber, files } = this.svc;
    return { root, hasher, globber, files };
  }

  /** A phase whose gates passed integrates its worktree branches before its barrier settles. */
  private async integrate(key: string, phase: PhaseSpec): Promise<void> {
    let integrated: Result<void, string>;
    try {
      integrated = await this.svc.workspaces!.phasePassed(phase.id, (notIntegrated) => this.recheckGates(phase, notIntegrated));
    } catch (e) {
      integrated = err(e instanceof Error ? e.message : String(e));
    }
    if (integrated.ok) {
      this.settle(key, { status: 'passed', digest: this.dependencies(key).digest });
      this.emit({ type: 'phase-end', phase: phase.id, status: 'passed' });
      return;
    }
    this.integrationFailed.push(phase.id);
    if (!this.opts.keepGoing) this.stopping = true;
    this.emit({ type: 'phase-end', phase: phase.id, status: 'failed' });
    this.settle(key, { status: 'gate-failed', digest: EMPTY_DIGEST, blockedBy: `${phase.id} (integration)` });
  }

  /**
   * The phase's gates again, in the main checkout, after a merge: a build of the gates and
   * the phase's tasks they need, minus the workstreams not integrated yet (their results
   * stand as their worktree left them) and minus edit tasks (what they changed came in with
   * the merge). Everything else is seen as this build settled it.
   */
  private async recheckGates(phase: PhaseSpec, notIntegrated: ReadonlySet<string>): Promise<boolean> {
    const plan = new Set<string>();
    const stack = phase.gates.map((g) => gateKey(g.fullId));
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (plan.has(n)) continue;
      const a = this.project.graph.getNodeAttributes(n);
      if (a.kind === 'phase') continue;
      if (a.kind === 'task' && (a.task.phase !== phase.id || a.task.kind === 'edit' || notIntegrated.has(`${a.task.phase}/${a.task.workstream}`))) continue;
      if (a.kind === 'gate' && a.gate.phase !== phase.id) continue;
      plan.add(n);
      stack.push(...this.project.graph.inNeighbors(n));
    }
    if (plan.size === 0) return true;
    const { workspaces: _isolated, ...mainOnly } = this.svc;
    this.recheck = new Build(this.project, plan, mainOnly, { ...this.opts, forceGates: true }, new Map([...this.outside, ...this.settledNodes]));
    try {
      const outcome = await this.recheck.run();
      return !outcome.failed && !outcome.interrupted;
    } finally {
      this.recheck = undefined;
    }
  }

  /**
   * Whether every node outside the plan settled well (EarlierStates.settledWell), so that only
   * those inside it need be looked at. Not in a re-check of gates: the build it is part of may
   * have left nodes without a digest (its `outside`).
   */
  private narrowed(): boolean {
    return this.opts.earlier?.settledWell === true && this.outside.size === 0;
  }

  /**
   * What a node's dependencies say, in one pass: the first whose failure blocks it; whether one
   * was skipped; and, for a barrier or a gate without a command, its digest (ORDERING_DIGEST
   * once every dependency's digest is known).
   */
  private dependencies(key: string): { blocker: string | undefined; anySkipped: boolean; digest: string | undefined } {
    if (this.narrowed()) {
      // the nodes outside the plan settled well (EarlierStates.settledWell): only planned
      // dependencies can block, be skipped or lack a digest. A blocker is named by the full
      // pass below, in edge order.
      let quiet = true;
      let anySkipped = false;
      let known = true;
      for (const dep of this.plannedDeps.get(key) ?? []) {
        const s = this.settled.get(dep);
        if (s?.status === 'failed' || s?.status === 'blocked' || s?.status === 'gate-failed') quiet = false;
        if (s?.status === 'skipped') anySkipped = true;
        if (s?.digest === undefined) known = false;
      }
      if (quiet) return { blocker: undefined, anySkipped, digest: known ? ORDERING_DIGEST : undefined };
    }
    let anySkipped = false;
    let known = true;
    for (const dep of this.project.graph.inNeighbors(key)) {
      const s = this.stateOf(dep);
      if (s) {
        if (s.status === 'failed' || s.status === 'blocked' || s.status === 'gate-failed') return { blocker: s.blockedBy ?? nodeId(dep), anySkipped, digest: undefined };
        if (s.status === 'skipped') anySkipped = true;
      }
      if (known && (s ?? this.outside.get(dep))?.digest === undefined) known = false;
    }
    return { blocker: undefined, anySkipped, digest: known ? ORDERING_DIGEST : undefined };
  }

  private settleBlocked(key: string, attrs: NodeAttrs, blocker: string): void {
    const blockedBy = blocker;
    switch (attrs.kind) {
      case 'task':
        this.counts.blocked++;
        this.emit({ type: 'task-end', task: attrs.id, status: 'blocked', durationMs: 0, reason: `blocked by ${blockedBy}` });
        break;
      case 'gate':
        this.emit({ type: 'gate-end', gate: attrs.id, status: 'blocked', blocking: attrs.gate.blocking, reason: `blocked by ${blockedBy}` });
        break;
      case 'phase':
        this.emit({ type: 'phase-end', phase: attrs.id, status: 'blocked' });
        break;
      default:
        assertNever(attrs, 'node');
    }
    this.settle(key, { status: 'blocked', digest: EMPTY_DIGEST, blockedBy });
  }

  private settleSkipped(key: string, attrs: NodeAttrs): void {
    if (attrs.kind === 'task') {
      this.counts.skipped++;
      this.emit({ type: 'task-end', task: attrs.id, status: 'skipped', durationMs: 0, reason: this.interrupted ? 'interrupted' : this.superseded.has(key) ? 'superseded by a change' : 'build stopped after a failure' });
    }
    this.settle(key, { status: 'skipped', digest: undefined });
  }

  private settleGate(key: string, gate: GateSpec, passed: boolean, reason: string | undefined, digest?: string): void {
    if (passed) {
      this.emit({ type: 'gate-end', gate: gate.fullId, status: 'passed', blocking: gate.blocking });
      this.settle(key, { status: 'passed', digest: digest ?? this.dependencies(key).digest });
      return;
    }
    this.emit({ type: 'gate-end', gate: gate.fullId, status: 'failed', blocking: gate.blocking, ...(reason ? { reason } : {}) });
    if (gate.blocking) {
      this.gatesFailed.push(gate.fullId);
      if (!this.opts.keepGoing) this.stopping = true;
      this.settle(key, { status: 'gate-failed', digest: EMPTY_DIGEST, blockedBy: gate.fullId });
    } else {
      this.nonBlockingGateFailures.push(gate.fullId);
      this.settle(key, { status: 'passed', digest: this.dependencies(key).digest, nonBlockingFailure: true });
    }
  }

  private settle(key: string, s: Settled): void {
    this.settled.set(key, s);
    const attrs = this.project.graph.getNodeAttributes(key);
    if (attrs.kind === 'task') {
      if (s.status !== 'fresh' && s.status !== 'restored' && s.status !== 'ran') this.wsFailed.add(`${attrs.task.phase}/${attrs.task.workstream}`);
      this.releaseWorkstream(attrs.task);
    }
    const ready: string[] = [];
    for (const next of this.project.graph.outNeighbors(key)) {
      if (!this.plan.has(next)) continue;
      const left = this.waitingOn.get(next)! - 1;
      this.waitingOn.set(next, left);
      if (left === 0) ready.push(next);
    }
    ready.sort((a, b) => this.topoIndex(a) - this.topoIndex(b));
    for (const k of ready) this.startNode(k);
    this.pendingNodes--;
    if (this.pendingNodes === 0) this.resolveDone?.();
    this.pump();
  }

  /** Keys and freshness checks are mostly waiting on the file system: bound how many are in flight. */
  private async withDecisionSlot(work: () => Promise<void>): Promise<void> {
    this.deciding++;
    if (this.decisionSlots === 0) await new Promise<void>((r) => this.decisionQueue.push(r));
    else this.decisionSlots--;
    try {
      await work();
    } finally {
      this.deciding--;
      const next = this.decisionQueue.shift();
      if (next) next();
      else this.decisionSlots++;
      // the run it queued may be one the stall check in pump must see with nothing deciding
      if (this.deciding === 0) this.pump();
    }
  }

  private async processTask(key: string, task: TaskSpec, gate: GateSpec | undefined): Promise<void> {
    const started = this.svc.now();
    try {
      if (this.stopping || this.superseded.has(key)) return this.settleSkipped(key, this.project.graph.getNodeAttributes(key));
      if (!gate && task.patches.length > 0) {
        // Patches are applied by lib/patch (incrementally, from its own record); a `run:` beside them runs after.
        const edit = await this.applyPatches(key, task, started);
        if (!edit || task.run === undefined) return;
      }
      // Only tasks depended on directly feed the key (their outputs: early cutoff). A gate or
      // a phase barrier orders work without feeding keys: what a task reads from an earlier
      // phase is declared in its inputs, so it re-runs exactly when those files change.
      const upstream: Array<[string, string]> = [];
      let upstreamUnknown: string | undefined;
      for (const dep of this.project.graph.inNeighbors(key).sort()) {
        const d = this.settledAs(dep)?.digest;
        if (d === undefined) upstreamUnknown ??= nodeId(dep);
        if (isTaskKey(dep)) upstream.push([nodeId(dep), d ?? '?']);
      }
      const viewed = await this.viewOf(task);
      if (!viewed.ok) return this.failTask(key, task, gate, viewed.error, '', this.svc.now() - started, null);
      const view = viewed.value;
      const parts = task.inputs === undefined ? undefined : await this.keyParts(task, upstream, view);
      const taskKeyValue = parts ? computeKey(parts) : undefined;
      const record = this.svc.freshLog.get(task.fullId);
      const outputsOnDisk =
        record && taskKeyValue !== undefined && record.key === taskKeyValue
          ? await view.hasher.hashFiles(record.outputs.map((o) => o.path))
          : new Map();
      const decision = decideFreshness({
        force: this.opts.force || (gate !== undefined && this.opts.forceGates === true),
        key: taskKeyValue,
        record,
        outputsOnDisk,
        ...(upstreamUnknown !== undefined ? { upstreamUnknown } : {}),
      });

      if (decision.action === 'fresh') {
        if (!gate) this.counts.fresh++;
        this.emit({ type: 'task-end', task: task.fullId, status: 'fresh', durationMs: 0, reason: decision.reason, ...(taskKeyValue ? { key: taskKeyValue } : {}) });
        return this.finishTask(key, gate, 'fresh', record!.outputs, taskKeyValue, task);
      }

      const failedBefore = taskKeyValue !== undefined && !this.opts.force ? this.opts.failures?.failedBefore(task.fullId, taskKeyValue) : undefined;
      if (failedBefore !== undefined) {
        return this.failTask(key, task, gate, `failed before with the same inputs (${failedBefore}); not retried until they change`, '', 0, null);
      }
      const reason = decision.reason === 'key changed' && parts ? await this.whyKeyChanged(task.fullId, parts) : decision.reason;
      // --force means "run it": a cached result is not restored (the new one is still stored).
      const useCache = decision.cacheable && !this.opts.force && task.cache && this.svc.cache !== undefined && taskKeyValue !== undefined;
      if (useCache) {
        const restored = await this.tryRestore(task, taskKeyValue!, parts!, reason, view);
        if (restored) return this.finishTask(key, gate, 'restored', restored, taskKeyValue, task);
      }
      if (this.opts.dryRun) {
        this.emit({ type: 'task-start', task: task.fullId, reason });
        if (!gate) this.counts.ran++;
        this.emit({ type: 'task-end', task: task.fullId, status: 'ran', durationMs: 0, reason: `dry run: ${reason}` });
        // What a task would produce is unknown until it runs: dependents' keys are unknown too.
        if (gate) this.settle(key, { status: 'passed', digest: undefined });
        else this.settle(key, { status: 'ran', digest: undefined });
        return;
      }
      this.queueRun({ key, task, gate, parts, taskKeyValue, reason, cacheable: decision.cacheable, view });
    } catch (e) {
      this.internalFailure(key, task, e, started);
    }
  }

  /** An edit task's patches; settles the node unless a `run:` is still to come. False when it settled as failed. */
  private async applyPatches(key: string, task: TaskSpec, started: number): Promise<boolean> {
    const viewed = await this.viewOf(task);
    if (!viewed.ok) {
      this.failTask(key, task, undefined, viewed.error, '', this.svc.now() - started, null);
      return false;
    }
    const view = viewed.value;
    const out = await this.patchesOf(view).applyEditTask(task);
    if (out.status === 'failed') {
      this.failTask(key, task, undefined, out.reason, out.detail ? `hint: ${out.detail}\n` : '', this.svc.now() - started, null);
      return false;
    }
    for (const p of out.changed) view.hasher.forget(p);
    if (out.changed.length > 0) view.globber.invalidateUnder(out.changed);
    if (task.run !== undefined) return true;
    if (out.status === 'fresh') this.counts.fresh++;
    else {
      this.counts.ran++;
      this.emit({ type: 'task-start', task: task.fullId, reason: out.reason });
    }
    this.emit({ type: 'task-end', task: task.fullId, status: out.status === 'fresh' ? 'fresh' : 'ran', durationMs: this.svc.now() - started, reason: out.reason });
    this.settle(key, { status: out.status === 'fresh' ? 'fresh' : 'ran', digest: out.digest });
    return true;
  }

  /** The patch pipeline of a view: a worktree's own, else the build's. */
  private patchesOf(view: FileView): PatchRunner {
    return view.patches ?? this.svc.patches;
  }

  /** A failed task with `fix:`: the FIX loop (lib/patch) patches and re-runs it. */
  private async fixLoop(task: TaskSpec, view: FileView, failed: RunOutcome, runOnce: () => Promise<RunOutcome>): Promise<{ outcome: RunOutcome; note?: string }> {
    let last = failed;
    const res = await this.patchesOf(view).fix({
      task,
      log: failed.output,
      rerun: async () => {
        last = await runOnce();
        return { exitCode: last.exitCode, output: last.output };
      },
      runTool: async (command, timeoutMs) => {
        const o = await this.svc.executor.run(
          { taskId: `fix:${task.fullId}`, command, shell: this.opts.shell, cwd: this.svc.root, env: this.taskEnv(task), ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
          this.abort.signal,
        );
        return { exitCode: o.exitCode, output: o.output };
      },
    });
    if (!res) return { outcome: failed };
    for (const p of res.changed) this.svc.hasher.forget(p);
    if (res.changed.length > 0) this.svc.globber.invalidateUnder(res.changed);
    return { outcome: last, note: res.note };
  }

  /**
   * Runs the task's process, again after a failure while `retries` allow, waiting
   * retry_delay × 2^(attempt-1) (capped at 60 s, with jitter) between attempts. A tool's
   * circuit breaker is asked before every attempt: while it is open no process starts.
   */
  private async runAttempts(task: TaskSpec, parts: KeyParts | undefined, view: FileView, signal: AbortSignal): Promise<AttemptResult> {
    const command = this.patchesOf(view).toolCommand(task, (task.run ?? '').replaceAll('{log}', this.svc.explain.logPath(task.fullId)));
    const breakers = task.tool !== undefined ? this.svc.breakers : undefined;
    for (let attempt = 1; ; attempt++) {
      if (breakers && task.tool !== undefined) {
        const admission = breakers.admit(task.tool, this.svc.now());
        if (admission.kind === 'reject') {
          return {
            kind: 'circuit-open',
            reason: `E_CIRCUIT_OPEN tool '${task.tool}' failed ${admission.failures} times in a row; its breaker stays open until ${new Date(admission.retryAt).toISOString()} (no process was started)`,
          };
        }
      }
      if (task.outputs && (await this.shouldClean(task, parts))) {
        const old = await view.globber.expand(task.outputs);
        await view.files.remove(old);
        for (const p of old) view.hasher.forget(p);
        view.globber.invalidateUnder(task.outputs);
      }
      const outcome = await this.svc.executor.run(
        {
          taskId: task.fullId,
          command,
          shell: this.opts.shell,
          cwd: path.join(view.root, task.cwd),
          env: this.taskEnv(task),
          ...(task.timeout !== undefined ? { timeoutMs: task.timeout } : {}),
        },
        signal,
      );
      if (outcome.cancelled) return { kind: 'ran', outcome, attempts: attempt };
      if (breakers && task.tool !== undefined) breakers.record(task.tool, outcome.exitCode === 0, this.svc.now());
      if (outcome.exitCode === 0 || attempt > task.retries || this.stopping || signal.aborted) return { kind: 'ran', outcome, attempts: attempt };
      const delayMs = retryDelay(task.retryDelay, attempt, this.svc.random());
      this.emit({ type: 'task-attempt', task: task.fullId, attempt, of: task.retries + 1, reason: outcome.timedOut ? 'timed out' : `exit code ${outcome.exitCode}`, delayMs, ...workerOf(outcome) });
      await this.svc.sleep(delayMs, signal);
      if (this.stopping || signal.aborted) return { kind: 'ran', outcome, attempts: attempt };
    }
  }

  private inBackground(work: Promise<void>): void {
    const p: Promise<void> = work
      .catch((e: unknown) => this.emit({ type: 'warning', message: `could not record state: ${e instanceof Error ? e.message : String(e)}` }))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** `clean: true` always; `if-file-deleted` when an input of the last success is gone; `false` never. */
  private async shouldClean(task: TaskSpec, parts: KeyParts | undefined): Promise<boolean> {
    switch (task.clean) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'if-file-deleted': {
        const before = await this.svc.explain.get(task.fullId);
        if (!before || !parts) return true;
        const now = new Set(parts.inputs.map(([p]) => p));
        return before.inputs.some(([p]) => !now.has(p));
      }
      default:
        return assertNever(task.clean, 'clean mode');
    }
  }

  private async whyKeyChanged(taskId: string, parts: KeyParts): Promise<string> {
    const before = await this.svc.explain.get(taskId);
    if (!before) return 'key changed';
    const changes = diffKeyParts(before, parts);
    if (changes.length === 0) return 'key changed';
    const limit = this.opts.reasonDetail ?? 3;
    const shown = changes.slice(0, limit).map(describeChange).join(', ');
    return changes.length > limit ? `${shown} (+${changes.length - limit} more)` : shown;
  }

  private async tryRestore(task: TaskSpec, key: string, parts: KeyParts, reason: string, view: FileView): Promise<readonly OutputFile[] | undefined> {
    const cache = this.svc.cache!;
    const entry = await cache.get(key);
    if (!entry) return undefined;
    if (this.opts.dryRun) {
      this.counts.restored++;
      this.emit({ type: 'task-end', task: task.fullId, status: 'restored', durationMs: 0, reason: `would restore: ${reason}`, key });
      return entry.outputs;
    }
    const t0 = this.svc.now();
    this.svc.freshLog.invalidate(task.fullId);
    // Stale outputs go first, so a file the cached result does not have cannot survive the restore.
    const stale = task.outputs ? await view.globber.expand(task.outputs) : [];
    await view.files.remove(stale);
    const restored = await cache.restore(entry, view.root);
    view.globber.invalidateUnder(task.outputs ?? []);
    for (const p of stale) view.hasher.forget(p);
    if (!restored.ok) {
      this.emit({ type: 'cache', task: task.fullId, op: 'corrupt', detail: `${restored.error.reason}: ${restored.error.detail}` });
      await cache.delete(key);
      return undefined;
    }
    for (const o of entry.outputs) view.hasher.forget(o.path);
    this.svc.freshLog.record({ taskId: task.fullId, key, outputs: entry.outputs, at: this.svc.now() });
    this.inBackground(this.svc.explain.put(task.fullId, parts));
    this.counts.restored++;
    this.emit({ type: 'cache', task: task.fullId, op: 'restore' });
    const log = this.opts.replayLogs ? await cache.readLog(entry) : undefined;
    this.emit({ type: 'task-end', task: task.fullId, status: 'restored', durationMs: this.svc.now() - t0, reason, key }, log);
    return entry.outputs;
  }

  private queueRun(run: PendingRun): void {
    const started = this.svc.now();
    this.runQueue.push({
      key: run.key,
      start: () => this.execute(run).catch((e: unknown) => this.internalFailure(run.key, run.task, e, started)),
    });
    this.runQueue.sort((a, b) => this.topoIndex(a.key) - this.topoIndex(b.key));
    this.pump();
  }

  /** A bug or an I/O failure around a task: fail it loudly, never guess "fresh". */
  private internalFailure(key: string, task: TaskSpec, e: unknown, started: number): void {
    if (this.settled.has(key)) return;
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    this.counts.failed++;
    if (!this.opts.keepGoing) this.stopping = true;
    this.emit({ type: 'task-end', task: task.fullId, status: 'failed', durationMs: this.svc.now() - started, reason: `internal error: ${message}` }, message);
    this.settle(key, { status: 'failed', digest: EMPTY_DIGEST });
  }

  /** Start every queued run the limits allow. */
  private pump(): void {
    if (this.stopping) {
      // Queued runs never started: they end as skipped.
      for (const q of this.runQueue.splice(0)) void q.start();
      return;
    }
    let startedAny = true;
    // With every slot busy nothing can start: skip the scan (a cold build's queue holds thousands).
    while (startedAny && this.running < this.opts.jobs) {
      startedAny = false;
      for (let i = 0; i < this.runQueue.length; i++) {
        const q = this.runQueue[i]!;
        if (!this.mayStart(q.key, false)) continue;
        this.runQueue.splice(i, 1);
        this.claim(q.key);
        void q.start();
        startedAny = true;
        break;
      }
    }
    // A conflict group held by a workstream that is itself waiting on the group's other
    // member cannot make progress: let the oldest queued run through rather than hang.
    if (this.running === 0 && this.finishing === 0 && this.runQueue.length > 0 && this.deciding === 0) {
      const q = this.runQueue.find((r) => this.mayStart(r.key, true));
      if (q) {
        this.runQueue.splice(this.runQueue.indexOf(q), 1);
        this.emit({ type: 'warning', message: `conflict group stalled; running ${nodeId(q.key)} anyway` });
        this.claim(q.key);
        void q.start();
      }
    }
  }

  private mayStart(key: string, ignoreGroups: boolean): boolean {
    if (this.running >= this.opts.jobs) return false;
    if (this.exclusiveRunning) return false;
    const attrs = this.project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') return true;
    const t = attrs.task;
    const ws = this.project.workstreams.get(`${t.phase}/${t.workstream}`)!;
    if (!ws.parallelOk && this.running > 0) return false;
    const phase = this.project.spec.phases.find((p) => p.id === t.phase)!;
    if (phase.maxParallel !== undefined && (this.runningByPhase.get(t.phase) ?? 0) >= phase.maxParallel) return false;
    if (!ignoreGroups && ws.conflictGroup !== undefined) {
      const holder = this.groupHolder.get(ws.conflictGroup);
      if (holder !== undefined && holder !== ws.fullId) return false;
    }
    return true;
  }

  private claim(key: string): void {
    this.running++;
    const attrs = this.project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') return;
    const t = attrs.task;
    const ws = this.project.workstreams.get(`${t.phase}/${t.workstream}`)!;
    this.runningByPhase.set(t.phase, (this.runningByPhase.get(t.phase) ?? 0) + 1);
    if (!ws.parallelOk) this.exclusiveRunning = true;
    if (ws.conflictGroup !== undefined && !this.groupHolder.has(ws.conflictGroup)) this.groupHolder.set(ws.conflictGroup, ws.fullId);
  }

  private unclaim(key: string): void {
    this.running--;
    const attrs = this.project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') return;
    const t = attrs.task;
    this.runningByPhase.set(t.phase, (this.runningByPhase.get(t.phase) ?? 1) - 1);
    this.exclusiveRunning = false;
  }

  /** A conflict group is held from a workstream's first run until its last planned task settles. */
  private releaseWorkstream(task: TaskSpec): void {
    const wsId = `${task.phase}/${task.workstream}`;
    const left = (this.wsRemaining.get(wsId) ?? 1) - 1;
    this.wsRemaining.set(wsId, left);
    if (left > 0) return;
    const ws = this.project.workstreams.get(wsId);
    if (ws?.conflictGroup !== undefined && this.groupHolder.get(ws.conflictGroup) === wsId) this.groupHolder.delete(ws.conflictGroup);
    // Its patches are verified (and committed) first, in its own checkout; an isolated
    // workstream's commit of its worktree waits for that.
    const verified = ws && this.workstreamPassed(ws) ? this.verifyPatches(ws, task) : Promise.resolve();
    this.inBackground(verified);
    this.svc.workspaces?.workstreamSettled(wsId, !this.wsFailed.has(wsId), verified.catch(() => undefined));
  }

  private async verifyPatches(ws: WorkstreamSpec, task: TaskSpec): Promise<void> {
    const viewed = await this.viewOf(task);
    await (viewed.ok ? this.patchesOf(viewed.value) : this.svc.patches).workstreamPassed(ws);
  }

  /** Every edit, static and runtime task of the workstream was planned and passed in this run. */
  private workstreamPassed(ws: WorkstreamSpec): boolean {
    const checked = ws.tasks.filter((t) => t.kind === 'static' || t.kind === 'runtime' || t.patches.length > 0);
    return checked.every((t) => {
      const s = this.stateOf(taskKey(t.fullId))?.status;
      return s === 'fresh' || s === 'restored' || s === 'ran';
    });
  }

  private async execute(run: PendingRun): Promise<void> {
    const { key, task, gate, parts, taskKeyValue, reason, cacheable, view } = run;
    if (this.stopping || this.superseded.has(key)) {
      this.settleSkipped(key, this.project.graph.getNodeAttributes(key));
      return;
    }
    const t0 = this.svc.now();
    let claimed = true;
    // The slot is the command's, not the bookkeeping's: once the command is done, the next
    // queued run starts while this one's outputs are hashed and recorded (with -j2 and trivial
    // commands, waiting for that left a slot empty about half the time). Until it settles it
    // counts as finishing: it will still make progress (see the stall check in pump).
    const release = (): void => {
      if (!claimed) return;
      claimed = false;
      this.unclaim(key);
      this.finishing++;
      this.pump();
    };
    const abort = new AbortController();
    this.taskAborts.set(key, abort);
    try {
      // The previous success is forgotten before anything can change the outputs.
      this.svc.freshLog.invalidate(task.fullId);
      this.emit({ type: 'task-start', task: task.fullId, reason });
      // Not AbortSignal.any with the build's signal: each such signal stays registered on the
      // build's for the whole build (0.6 MB and ~2,400 weak references at 10,000 tasks), and
      // interrupt() aborts every controller in taskAborts anyway.
      const signal = abort.signal;
      let attempt = await this.runAttempts(task, parts, view, signal);
      let fixNote: string | undefined;
      if (attempt.kind === 'ran' && attempt.outcome.exitCode !== 0 && !attempt.outcome.cancelled && task.fix !== undefined && !gate && (task.kind === 'static' || task.kind === 'runtime')) {
        const rerun = async (): Promise<RunOutcome> => {
          const again = await this.runAttempts(task, parts, view, signal);
          return again.kind === 'ran' ? again.outcome : { exitCode: null, signal: null, timedOut: false, cancelled: false, output: again.reason, durationMs: 0 };
        };
        const fixed = await this.fixLoop(task, view, attempt.outcome, rerun);
        fixNote = fixed.note;
        attempt = { kind: 'ran', outcome: fixed.outcome, attempts: attempt.attempts };
      }
      release();
      const durationMs = this.svc.now() - t0;
      if (attempt.kind === 'circuit-open') {
        return this.failTask(key, task, gate, attempt.reason, '', durationMs, null);
      }
      const { outcome, attempts } = attempt;
      // The last non-empty log is kept for humans and for `{log}` (most tasks print nothing).
      if (outcome.output.length > 0 || outcome.exitCode !== 0) this.inBackground(this.svc.explain.putLog(task.fullId, outcome.output));
      // Only the folders the task declares it writes are listed again: re-listing everything
      // after every task made a cold build quadratic in the size of its folders.
      view.globber.invalidateUnder(task.outputs ?? []);
      if (outcome.cancelled) {
        this.counts.skipped++;
        this.emit({ type: 'task-end', task: task.fullId, status: 'skipped', durationMs, reason: this.superseded.has(key) ? 'superseded by a change' : 'interrupted', ...workerOf(outcome) }, outcome.output);
        this.settle(key, { status: 'skipped', digest: undefined });
        return;
      }
      if (outcome.exitCode !== 0) {
        const why = outcome.spawnError
          ? `could not start: ${outcome.spawnError}`
          : outcome.timedOut
            ? `timed out after ${task.timeout} ms`
            : outcome.signal
              ? `killed by ${outcome.signal}`
              : `exit code ${outcome.exitCode}`;
        const after = attempts > 1 ? ` after ${attempts} attempts` : '';
        return this.failTask(key, task, gate, `${why}${after}${fixNote !== undefined ? `; ${fixNote}` : ''}`, outcome.output, durationMs, outcome.exitCode, outcome.worker, taskKeyValue);
      }
      if (!gate && task.tool !== undefined && this.project.spec.config.tools[task.tool]?.produces === 'patch') {
        // The tool's answer is a patch: uet applies it (through the ledger), never the tool.
        const answer = await this.patchesOf(view).applyToolAnswer(task, outcome.output);
        if (answer.status === 'failed') return this.failTask(key, task, gate, answer.reason, outcome.output, durationMs, outcome.exitCode, outcome.worker);
        for (const p of answer.changed) this.svc.hasher.forget(p);
        if (answer.changed.length > 0) this.svc.globber.invalidateUnder(answer.changed);
      }

      let outputs: OutputFile[] = [];
      if (task.outputs) {
        const paths = await view.globber.expand(task.outputs);
        for (const p of paths) view.hasher.forget(p);
        const digests = await view.hasher.hashFiles(paths);
        outputs = paths.flatMap((p) => {
          const d = digests.get(p);
          return d ? [{ path: p, hash: d.hash, size: d.size, mode: d.mode }] : [];
        });
      }
      // Inputs read again: a file that changed while the task ran makes this result unsafe to keep.
      let changedDuringRun: string | undefined;
      if (parts && taskKeyValue !== undefined) {
        const again = await this.keyParts(task, parts.upstream, view);
        const keyAfter = computeKey(again);
        if (keyAfter !== taskKeyValue) {
          changedDuringRun = diffKeyParts(parts, again).map(describeChange)[0] ?? 'inputs changed';
          this.opts.failures?.changedWhileRunning(task.fullId, taskKeyValue, keyAfter);
        }
      }
      if (fixNote !== undefined) {
        // Fixed: the key was of the files before the fix; the next build keys (and records) the fixed ones.
        this.unrecorded.push(task.fullId);
      } else if (changedDuringRun !== undefined) {
        this.unrecorded.push(task.fullId);
        this.emit({ type: 'warning', message: `${task.fullId}: ${changedDuringRun} while it ran; result not recorded, it will run again next build` });
      } else if (taskKeyValue !== undefined && parts) {
        this.svc.freshLog.record({ taskId: task.fullId, key: taskKeyValue, outputs, at: this.svc.now() });
        this.inBackground(this.svc.explain.put(task.fullId, parts));
        if (cacheable && task.cache && this.svc.cache) {
          // Storing is off the critical path: dependents start while the blobs are written.
          // The store re-checks each blob's hash, so a file changed meanwhile is not cached.
          const cache = this.svc.cache;
          const id = task.fullId;
          this.inBackground(
            cache.put(taskKeyValue, id, view.root, outputs, outcome.output).then((stored) => {
              if (stored.ok) this.emit({ type: 'cache', task: id, op: 'store' });
              else this.emit({ type: 'cache', task: id, op: 'error', detail: `cache not written: ${stored.error.reason}: ${stored.error.detail}` });
            }),
          );
        }
      }
      if (!gate) this.counts.ran++;
      this.emit({ type: 'task-end', task: task.fullId, status: 'ran', durationMs, exitCode: 0, reason: fixNote !== undefined ? `${reason}; ${fixNote}` : reason, ...workerOf(outcome), ...(attempts > 1 ? { attempts } : {}), ...(taskKeyValue ? { key: taskKeyValue } : {}) }, outcome.output);
      this.finishTask(key, gate, 'ran', outputs, taskKeyValue, task);
    } finally {
      // release() has run by now (here if not before): this run no longer counts as finishing
      release();
      this.taskAborts.delete(key);
      if (--this.finishing === 0) this.pump();
    }
  }

  private failTask(key: string, task: TaskSpec, gate: GateSpec | undefined, why: string, output: string, durationMs: number, exitCode: number | null, worker?: number, taskKeyValue?: string): void {
    if (taskKeyValue !== undefined) this.opts.failures?.failed(task.fullId, taskKeyValue, why);
    const ev = { type: 'task-end', task: task.fullId, status: 'failed', durationMs, exitCode, reason: why, ...(worker !== undefined ? { worker } : {}) } as const;
    if (gate) {
      this.emit(ev, output);
      return this.settleGate(key, gate, false, `run failed: ${why}`);
    }
    this.counts.failed++;
    if (!this.opts.keepGoing) this.stopping = true;
    this.emit(ev, output);
    this.settle(key, { status: 'failed', digest: EMPTY_DIGEST });
  }

  private finishTask(
    key: string,
    gate: GateSpec | undefined,
    status: 'fresh' | 'restored' | 'ran',
    outputs: readonly OutputFile[],
    taskKeyValue: string | undefined,
    task: TaskSpec,
  ): void {
    const digest = task.outputs ? outputsDigest(outputs) : taskKeyValue !== undefined ? `key:${taskKeyValue}` : NO_KEY_DIGEST;
    if (gate) return this.settleGate(key, gate, true, undefined, digest);
    this.settle(key, { status, digest });
  }

  /** a node's place in the project's topological order (the graph's own index: its keys are in that order) */
  private topoIndex(key: string): number {
    return this.project.graph.position(key);
  }

  private emit(ev: DistributiveOmit<RunEvent, 'runId' | 'at'>, output?: string): void {
    this.svc.emit({ ...ev, runId: this.opts.runId, at: this.svc.now() } as RunEvent, output);
  }

  private taskEnv(task: TaskSpec): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of [...DEFAULT_PASS_ENV, ...task.env.pass, ...task.env.hash]) {
      const v = this.svc.hostEnv[name];
      if (v !== undefined) env[name] = v;
    }
    Object.assign(env, task.env.set);
    env['UET_TASK'] = task.fullId;
    return env;
  }

  private async keyParts(task: TaskSpec, upstream: ReadonlyArray<readonly [string, string]>, view: FileView): Promise<KeyParts> {
    const inputs = await this.hashGlobs(task.inputs ?? [], view);
    // patch files are read from the user's checkout, wherever the task works
    const patches = await this.hashGlobs(task.patches, this.mainView());
    const env: Record<string, string> = {};
    for (const name of task.env.hash) env[name] = sha256(this.svc.hostEnv[name] ?? '');
    for (const [name, value] of Object.entries(task.env.set)) env[`set:${name}`] = sha256(value);
    const toolVersion = task.tool ? await this.toolVersion(task.tool) : undefined;
    return {
      ...baseParts(),
      command: task.run ?? '',
      ...(toolVersion !== undefined ? { toolVersion } : {}),
      shell: this.opts.shell,
      cwd: task.cwd,
      env,
      outputs: task.outputs ? [...task.outputs] : null,
      clean: task.clean,
      inputs,
      patches,
      upstream: [...upstream],
    };
  }

  private async hashGlobs(globs: readonly string[], view: FileView): Promise<Array<[string, string]>> {
    if (globs.length === 0) return [];
    // a consulted expansion: what it was read from goes into the no-op proof
    const files = await view.globber.expand(globs, { consult: true });
    const digests = await view.hasher.hashFiles(files);
    const out: Array<[string, string]> = [];
    for (const f of files) {
      const d = digests.get(f);
      if (d) out.push([f, d.hash]);
    }
    return out;
  }

  /** A tool's `version` command runs once per build; its output joins the key of every task using it. */
  private toolVersion(tool: string): Promise<string> {
    let p = this.toolVersions.get(tool);
    if (!p) {
      const spec = this.project.spec.config.tools[tool];
      p = spec?.version
        ? this.svc.executor
            .run({ taskId: `tool:${tool}`, command: spec.version, shell: this.opts.shell, cwd: this.svc.root, env: this.taskEnv(toolTask(tool)) })
            .then((o) => sha256(`${o.exitCode}\n${o.output}`))
        : Promise.resolve('');
      this.toolVersions.set(tool, p);
    }
    return p;
  }
}

type AttemptResult =
  | { readonly kind: 'ran'; readonly outcome: RunOutcome; readonly attempts: number }
  | { readonly kind: 'circuit-open'; readonly reason: string };

const MAX_RETRY_DELAY_MS = 60_000;

/** Exponential backoff with jitter: base × 2^(attempt-1), capped, then scaled into [50 %, 100 %]. */
export function retryDelay(baseMs: number, attempt: number, random: number): number {
  const capped = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** (attempt - 1));
  return Math.round(capped * (0.5 + random / 2));
}

function workerOf(outcome: RunOutcome): { worker?: number } {
  return outcome.worker !== undefined ? { worker: outcome.worker } : {};
}

/** A task decided to run, waiting for a slot. */
interface PendingRun {
  readonly key: string;
  readonly task: TaskSpec;
  /** set when this is a gate's own `run` */
  readonly gate: GateSpec | undefined;
  /** undefined for a task without inputs: it has no key */
  readonly parts: KeyParts | undefined;
  readonly taskKeyValue: string | undefined;
  readonly reason: string;
  readonly cacheable: boolean;
  /** the files it works on: the main checkout or its workstream's worktree */
  readonly view: FileView;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A gate's own `run` is checked like a task: keyed by its command and its members' results. */
function gateAsTask(gate: GateSpec, env: EnvSpec): TaskSpec {
  return {
    fullId: gate.fullId,
    id: gate.id,
    phase: gate.phase,
    workstream: '',
    kind: 'static',
    ...(gate.run !== undefined ? { run: gate.run } : {}),
    patches: [],
    inputs: [],
    dependsOn: gate.dependsOn,
    env,
    cwd: '',
    retries: 0,
    retryDelay: 0,
    cache: false,
    clean: 'false',
    loc: gate.loc,
  };
}

function toolTask(tool: string): TaskSpec {
  return {
    fullId: `tool:${tool}`,
    id: tool,
    phase: '',
    workstream: '',
    kind: 'build',
    patches: [],
    dependsOn: [],
    env: { pass: [], hash: [], set: {} },
    cwd: '',
    retries: 0,
    retryDelay: 0,
    cache: false,
    clean: 'false',
    loc: { file: '', line: 0, col: 0 },
  };
}
