/**
 * Workstreams with `isolation: worktree`, for one build: each runs in its own git worktree
 * (made when its first task is decided), its changes within its files_scope are committed on
 * its branch when all its tasks passed, and when its phase's gates pass the phase's branches
 * are merged into the user's branch, one at a time, the gates re-checked after each merge.
 *
 * A phase integrates all or nothing: a conflict, a refused merge or a gate failing after a
 * merge moves the user's branch back to where it was before the phase's first merge (git
 * reset --keep), so the checkout and the index are exactly as they were, and every branch of
 * the phase is kept for the user.
 *
 * A workstream's branch, through one build:
 *
 *   (none) ──viewOf──▶ created ──all tasks passed──▶ committed | nothing ──▶ merged ──▶ deleted
 *                         │                                │  (phase integrated)
 *                         └──a task did not pass──▶ failed ├──▶ left (--no-integrate, conflict, gates failed,
 *                                                          │        phase not built): kept for the user
 *   the worktree folder is removed when the build ends, whatever happened.
 */
import type { RunEvent } from '../events/types.js';
import type { CompiledProject } from '../graph/project.js';
import { taskKey } from '../graph/project.js';
import type { CommitOutcome, GitFailure, Worktree, WorktreeManager } from '../git/worktree.js';
import { branchName } from '../git/worktree.js';
import type { TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { FileView, Workspaces } from './services.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type WorkspaceEvent = DistributiveOmit<RunEvent, 'runId' | 'at'>;

export interface WorktreeWorkspacesOptions {
  readonly project: CompiledProject;
  readonly git: WorktreeManager;
  readonly runId: string;
  /** the user's branch, merged into */
  readonly into: string;
  /** false with --no-integrate: branches are committed and left for the user */
  readonly integrate: boolean;
  readonly emit: (ev: WorkspaceEvent) => void;
  /** the hasher, globber and files of a project root inside a worktree */
  readonly makeView: (projectRoot: string, statIndexPath: string) => Promise<FileView>;
}

type BranchState =
  | { readonly kind: 'committed'; readonly commit: string }
  | { readonly kind: 'nothing' }
  | { readonly kind: 'failed' }
  | { readonly kind: 'error'; readonly message: string };

interface Isolated {
  readonly ws: WorkstreamSpec;
  readonly worktree: Promise<Result<{ readonly wt: Worktree; readonly view: FileView }, string>>;
  state?: Promise<BranchState>;
  fate?: 'merged' | 'left';
}

export class WorktreeWorkspaces implements Workspaces {
  private readonly isolated = new Map<string, Isolated>();
  /** git commands run one at a time: worktree add, commit and merge all take repository locks */
  private gitQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WorktreeWorkspacesOptions) {}

  viewOf(task: TaskSpec): Promise<Result<FileView, string>> | undefined {
    const ws = this.o.project.workstreams.get(`${task.phase}/${task.workstream}`);
    if (!ws || ws.isolation !== 'worktree') return undefined;
    let entry = this.isolated.get(ws.fullId);
    if (!entry) {
      entry = { ws, worktree: this.create(ws) };
      this.isolated.set(ws.fullId, entry);
    }
    return entry.worktree.then((r) => (r.ok ? ok(r.value.view) : r));
  }

  workstreamSettled(workstream: string, passed: boolean, before: Promise<void> = Promise.resolve()): void {
    const entry = this.isolated.get(workstream);
    if (!entry) return;
    entry.state = passed ? before.then(() => this.commit(entry)) : Promise.resolve({ kind: 'failed' });
  }

  async phasePassed(phase: string, recheckGates: (notIntegrated: ReadonlySet<string>) => Promise<boolean>): Promise<Result<void, string>> {
    const entries = this.integrationOrder(phase);
    if (entries.length === 0) return ok(undefined);
    const states = new Map<Isolated, BranchState>();
    for (const e of entries) {
      const s = await (e.state ?? Promise.resolve<BranchState>({ kind: 'failed' }));
      if (s.kind === 'error') return this.fail(phase, [e], e, 'refused', s.message, undefined);
      states.set(e, s);
    }
    const toMerge = entries.filter((e) => states.get(e)!.kind === 'committed');
    if (toMerge.length === 0) return ok(undefined);
    if (!this.o.integrate) {
      for (const e of toMerge) this.leave(e, 'built with --no-integrate');
      return ok(undefined);
    }
    const phaseHasGates = this.o.project.spec.phases.find((p) => p.id === phase)!.gates.length > 0;
    const dirty = await this.serial(() => this.o.git.dirtyFiles());
    if (!dirty.ok) return this.fail(phase, toMerge, toMerge[0]!, 'refused', this.gitError('could not read the checkout', dirty.error), undefined);
    if (dirty.value.length > 0) {
      return this.fail(phase, toMerge, toMerge[0]!, 'refused', `E_DIRTY_CHECKOUT cannot integrate phase ${phase} into ${this.o.into}: uncommitted changes in ${dirty.value.join(', ')}; commit or stash them, or build with --no-integrate`, undefined);
    }
    const before = await this.serial(() => this.o.git.head());
    if (!before.ok) return this.fail(phase, toMerge, toMerge[0]!, 'refused', this.gitError('could not read HEAD', before.error), undefined);

    // Workstreams not merged yet are left out of the gates' re-check (their results stand).
    const notIntegrated = new Set(toMerge.map((e) => e.ws.fullId));
    const merged: string[] = [];
    for (const e of toMerge) {
      const branch = this.branchOf(e);
      const m = await this.serial(() => this.o.git.merge(branch, `uet: integrate ${e.ws.fullId} (run ${this.o.runId})`));
      if (!m.ok) return this.fail(phase, toMerge, e, 'refused', this.gitError(`could not merge ${branch}`, m.error), before.value);
      switch (m.value.kind) {
        case 'conflict': {
          const also = merged.length > 0 ? ` (after merging ${merged.join(', ')})` : '';
          return this.fail(
            phase,
            toMerge,
            e,
            'conflict',
            `E_MERGE_CONFLICT merging ${branch} into ${this.o.into}${also} conflicts in ${m.value.files.join(', ')}; the merge was aborted and ${this.o.into} is as it was before phase ${phase} was integrated; branches kept: ${[branch, ...merged].join(', ')} (merge them by hand: git merge ${[...merged, branch].join(' ')})`,
            before.value,
            m.value.files,
          );
        }
        case 'refused':
          return this.fail(phase, toMerge, e, 'refused', `E_MERGE_REFUSED git would not merge ${branch} into ${this.o.into}: ${m.value.message}`, before.value);
        case 'up-to-date':
        case 'merged':
          break;
      }
      merged.push(branch);
      notIntegrated.delete(e.ws.fullId);
      this.o.emit({ type: 'integration', phase, branch, into: this.o.into, status: m.value.kind, ...(m.value.kind === 'merged' ? { commit: m.value.commit } : {}) });
      if (phaseHasGates && !(await recheckGates(notIntegrated))) {
        return this.fail(phase, toMerge, e, 'gates-failed', `E_INTEGRATION_GATE the gates of phase ${phase} failed after merging ${merged.join(', ')} into ${this.o.into}; ${this.o.into} is as it was before phase ${phase} was integrated; branches kept`, before.value);
      }
    }
    for (const e of toMerge) e.fate = 'merged';
    return ok(undefined);
  }

  /** Removes this build's worktrees; deletes the branches with nothing left to integrate. */
  async close(): Promise<void> {
    for (const e of this.isolated.values()) {
      const made = await e.worktree;
      if (!made.ok) continue;
      const { wt } = made.value;
      const state = e.state ? await e.state : undefined;
      const removed = await this.serial(() => this.o.git.remove(wt));
      if (removed.ok) this.o.emit({ type: 'worktree', workstream: e.ws.fullId, op: 'removed', branch: wt.branch });
      else this.o.emit({ type: 'warning', message: this.gitError(`could not remove the worktree ${wt.dir}; the next build removes it`, removed.error) });
      if (state?.kind === 'committed' && e.fate === undefined) this.leave(e, `phase ${e.ws.phase} was not integrated in this build`);
      if (state?.kind !== 'committed' || e.fate === 'merged') await this.serial(() => this.o.git.deleteBranch(wt.branch));
    }
  }

  private async create(ws: WorkstreamSpec): Promise<Result<{ wt: Worktree; view: FileView }, string>> {
    const added = await this.serial(() => this.o.git.add(ws.phase, ws.id));
    if (!added.ok) return err(this.gitError(`E_WORKTREE could not create the worktree of ${ws.fullId}`, added.error));
    const wt = added.value;
    if (wt.replaced !== undefined) {
      this.o.emit({ type: 'warning', message: `branch ${wt.branch} held commits not in ${this.o.into} (tip ${wt.replaced.slice(0, 12)}); it now starts again from HEAD (git branch ${wt.branch}-old ${wt.replaced.slice(0, 12)} brings the old one back)` });
    }
    this.o.emit({ type: 'worktree', workstream: ws.fullId, op: 'created', branch: wt.branch, path: wt.dir });
    const view = await this.o.makeView(wt.projectRoot, `${wt.dir}.stat-index`);
    return ok({ wt, view });
  }

  private async commit(entry: Isolated): Promise<BranchState> {
    const made = await entry.worktree;
    if (!made.ok) return { kind: 'failed' };
    const { wt } = made.value;
    const c: Result<CommitOutcome, GitFailure> = await this.serial(() =>
      this.o.git.commitScope(wt, entry.ws.filesScope, `uet: ${entry.ws.fullId} (run ${this.o.runId})`),
    );
    if (!c.ok) return { kind: 'error', message: this.gitError(`E_WORKTREE could not commit the changes of ${entry.ws.fullId}`, c.error) };
    if (c.value.outOfScope.length > 0) {
      this.o.emit({ type: 'warning', message: `${entry.ws.fullId} changed files outside its files_scope, not committed: ${c.value.outOfScope.join(', ')}` });
    }
    if (c.value.kind === 'nothing') return { kind: 'nothing' };
    this.o.emit({ type: 'worktree', workstream: entry.ws.fullId, op: 'committed', branch: wt.branch, commit: c.value.commit, files: [...c.value.files] });
    return { kind: 'committed', commit: c.value.commit };
  }

  private async fail(
    phase: string,
    toMerge: readonly Isolated[],
    at: Isolated,
    status: 'conflict' | 'refused' | 'gates-failed',
    message: string,
    before: string | undefined,
    files?: readonly string[],
  ): Promise<Result<void, string>> {
    let text = message;
    if (before !== undefined) {
      const back = await this.serial(() => this.o.git.resetTo(before));
      if (!back.ok) text += `; moving ${this.o.into} back to ${before.slice(0, 12)} failed: ${back.error.message}`;
    }
    this.o.emit({ type: 'integration', phase, branch: this.branchOf(at), into: this.o.into, status, message: text, ...(files ? { files: [...files] } : {}) });
    for (const e of toMerge) this.leave(e, undefined);
    return err(text);
  }

  private leave(e: Isolated, why: string | undefined): void {
    if (e.fate !== undefined) return;
    e.fate = 'left';
    this.o.emit({ type: 'integration', phase: e.ws.phase, branch: this.branchOf(e), into: this.o.into, status: 'left', ...(why ? { message: why } : {}) });
  }

  private branchOf(e: Isolated): string {
    return branchName(e.ws.phase, e.ws.id);
  }

  /** The phase's isolated workstreams used in this build: dependencies first, then by id. */
  private integrationOrder(phase: string): Isolated[] {
    const entries = [...this.isolated.values()].filter((e) => e.ws.phase === phase).sort((a, b) => (a.ws.id < b.ws.id ? -1 : a.ws.id > b.ws.id ? 1 : 0));
    const graph = this.o.project.graph;
    const wsOfTask = new Map<string, string>();
    for (const e of entries) for (const t of e.ws.tasks) wsOfTask.set(taskKey(t.fullId), e.ws.fullId);
    // needs[x] = the entries x reaches backwards through the graph (its dependencies).
    const needs = new Map<string, Set<string>>();
    for (const e of entries) {
      const found = new Set<string>();
      const seen = new Set<string>();
      const stack = e.ws.tasks.map((t) => taskKey(t.fullId));
      while (stack.length > 0) {
        for (const dep of graph.inNeighbors(stack.pop()!)) {
          if (seen.has(dep)) continue;
          seen.add(dep);
          const other = wsOfTask.get(dep);
          if (other !== undefined && other !== e.ws.fullId) found.add(other);
          stack.push(dep);
        }
      }
      needs.set(e.ws.fullId, found);
    }
    const ordered: Isolated[] = [];
    const done = new Set<string>();
    while (ordered.length < entries.length) {
      const next = entries.find((e) => !done.has(e.ws.fullId) && [...needs.get(e.ws.fullId)!].every((d) => done.has(d)));
      if (!next) throw new Error(`bug: cycle between the workstreams of phase ${phase}`);
      done.add(next.ws.fullId);
      ordered.push(next);
    }
    return ordered;
  }

  private gitError(what: string, f: GitFailure): string {
    return `${what}: ${f.command}: ${f.message}`;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.gitQueue.then(work, work);
    this.gitQueue = p.catch(() => undefined);
    return p;
  }
}
