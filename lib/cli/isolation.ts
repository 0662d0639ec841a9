/**
 * Before a build runs anything: what `isolation: worktree` needs from git. A project that is
 * not a git repository is a spec error (exit 2); a checkout uet would later merge into but
 * that has uncommitted changes, or a detached HEAD, is refused (exit 1) before any task starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CompiledProject } from '../graph/project.js';
import { taskKey } from '../graph/project.js';
import type { WorktreeManager } from '../git/worktree.js';
import { WORKTREES_DIR, openWorktreeManager } from '../git/worktree.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { errorAt } from '../spec/diagnostic.js';
import type { WorkstreamSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';

export interface GitReady {
  readonly git: WorktreeManager;
  /** the user's branch ('HEAD' when detached and not integrating) */
  readonly into: string;
  /** the plan holds isolated workstreams (otherwise git is only opened to clean up a crashed build) */
  readonly isolated: boolean;
}

export type PreflightFailure = { readonly kind: 'spec'; readonly diagnostics: Diagnostic[] } | { readonly kind: 'refused'; readonly message: string };

/** Workstreams of the plan with `isolation: worktree`. */
export function isolatedWorkstreams(project: CompiledProject, plan: ReadonlySet<string>): WorkstreamSpec[] {
  // by workstream, not by planned node: a build plans thousands of tasks in a few isolated workstreams at most
  const out: WorkstreamSpec[] = [];
  for (const ws of project.workstreams.values()) {
    if (ws.isolation === 'worktree' && ws.tasks.some((t) => plan.has(taskKey(t.fullId)))) out.push(ws);
  }
  return out.sort((a, b) => (a.fullId < b.fullId ? -1 : a.fullId > b.fullId ? 1 : 0));
}

/** undefined: git is not needed (no isolated workstream planned, no worktree left behind). */
export async function gitPreflight(root: string, isolated: readonly WorkstreamSpec[], integrate: boolean): Promise<Result<GitReady | undefined, PreflightFailure>> {
  const leftovers = fs.existsSync(path.join(root, WORKTREES_DIR));
  if (isolated.length === 0 && !leftovers) return ok(undefined);
  const opened = await openWorktreeManager(root);
  if (!opened.ok) {
    if (isolated.length === 0) return ok(undefined);
    const ws = isolated[0]!;
    if (opened.error.kind === 'not-a-repo') {
      return err({
        kind: 'spec',
        diagnostics: [
          errorAt('E_NOT_A_REPO', `workstream '${ws.fullId}' has isolation: worktree, but ${root} is not in a git repository`, ws.loc, 'run `git init` and commit the project, or set `isolation: none`'),
        ],
      });
    }
    return err({ kind: 'refused', message: `${opened.error.failure.command}: ${opened.error.failure.message}` });
  }
  const git = opened.value;
  if (isolated.length === 0) return ok({ git, into: 'HEAD', isolated: false });
  const head = await git.head();
  if (!head.ok) return err({ kind: 'refused', message: `E_NO_COMMIT worktrees are made from HEAD, and the repository has no commit yet: commit the project first (${head.error.message})` });
  const branch = await git.currentBranch();
  if (!integrate) return ok({ git, into: branch.ok ? branch.value : 'HEAD', isolated: true });
  if (!branch.ok) return err({ kind: 'refused', message: `E_DETACHED_HEAD ${branch.error.message}, or build with --no-integrate` });
  const dirty = await git.dirtyFiles();
  if (!dirty.ok) return err({ kind: 'refused', message: `${dirty.error.command}: ${dirty.error.message}` });
  if (dirty.value.length > 0) {
    return err({
      kind: 'refused',
      message: `E_DIRTY_CHECKOUT the build would merge worktree branches into ${branch.value}, which has uncommitted changes: ${dirty.value.join(', ')}\n  hint: commit or stash them, or build with --no-integrate (nothing was run)`,
    });
  }
  return ok({ git, into: branch.value, isolated: true });
}
