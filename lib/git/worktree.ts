/**
 * Git behind one small interface: the worktrees isolated workstreams run in, the commit of
 * a workstream's changes on its branch, and the merge of those branches into the user's
 * branch. Built on simple-git, which has no worktree API: worktrees go through `raw`.
 *
 * Layout (root = the uet project root, which may sit below the repository's top folder):
 *   <root>/.uet/worktrees/<phase>/<ws>   a worktree of the whole repository
 *   uet/<phase>/<ws>                     its branch, made from HEAD when the worktree is added
 * The project inside a worktree is at <worktree>/<prefix>, prefix being the project's path
 * within the repository ('' when the project is the repository).
 *
 * Every failure is a value (GitFailure), never a throw, across this module's line.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import type { SimpleGit, simpleGit as SimpleGitFactory } from 'simple-git';
import type { FilesScope } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { importModule } from '../util/import-module.js';

export const WORKTREES_DIR = path.join('.uet', 'worktrees');
export const BRANCH_PREFIX = 'uet/';

export interface GitFailure {
  /** the git command that failed, as the user would type it */
  readonly command: string;
  readonly message: string;
}

export interface Worktree {
  readonly phase: string;
  readonly workstream: string;
  /** absolute path of the worktree's top folder */
  readonly dir: string;
  /** absolute path of the uet project inside the worktree (dir + prefix) */
  readonly projectRoot: string;
  readonly branch: string;
  /** the commit the branch was made from */
  readonly base: string;
}

export type CommitOutcome =
  | { readonly kind: 'committed'; readonly commit: string; readonly files: readonly string[]; readonly outOfScope: readonly string[] }
  | { readonly kind: 'nothing'; readonly outOfScope: readonly string[] };

export type MergeOutcome =
  | { readonly kind: 'merged'; readonly commit: string }
  | { readonly kind: 'up-to-date' }
  /** the merge was aborted: checkout and index are as they were before it */
  | { readonly kind: 'conflict'; readonly files: readonly string[] }
  /** git refused to start (local changes or untracked files in the way); nothing changed */
  | { readonly kind: 'refused'; readonly message: string };

export interface StaleReport {
  readonly worktreesRemoved: readonly string[];
  readonly branchesDeleted: readonly string[];
  /** uet/* branches with commits the user's branch lacks: kept for the user */
  readonly branchesKept: readonly string[];
}

/** What uet does with git. One instance per project root. */
export interface WorktreeManager {
  /** the checked-out branch; an error on a detached HEAD (there is nothing to merge into) */
  currentBranch(): Promise<Result<string, GitFailure>>;
  /** tracked files with staged or unstaged changes, and unmerged ones (untracked files do not count) */
  dirtyFiles(): Promise<Result<string[], GitFailure>>;
  head(): Promise<Result<string, GitFailure>>;
  /** removes what a crashed or interrupted build left: worktrees, and uet/* branches with nothing to integrate */
  cleanStale(): Promise<Result<StaleReport, GitFailure>>;
  /** a new worktree for the workstream on a branch made from HEAD (replacing an older branch of that name) */
  add(phase: string, workstream: string): Promise<Result<Worktree & { readonly replaced?: string }, GitFailure>>;
  /** commits the worktree's changes within the scope's write/create globs (none forbidden), as one commit */
  commitScope(wt: Worktree, scope: FilesScope, message: string): Promise<Result<CommitOutcome, GitFailure>>;
  /** merges a branch into the current branch (a merge commit); a conflict is aborted */
  merge(branch: string, message: string): Promise<Result<MergeOutcome, GitFailure>>;
  /** moves the current branch back to `commit`, keeping local changes (git reset --keep) */
  resetTo(commit: string): Promise<Result<void, GitFailure>>;
  /** removes the worktree folder and its registration; the branch stays */
  remove(wt: Worktree): Promise<Result<void, GitFailure>>;
  /** deletes a branch */
  deleteBranch(branch: string): Promise<Result<void, GitFailure>>;
}

export type OpenFailure = { readonly kind: 'not-a-repo'; readonly root: string } | { readonly kind: 'git'; readonly failure: GitFailure };

export function branchName(phase: string, workstream: string): string {
  return `${BRANCH_PREFIX}${phase}/${workstream}`;
}

export function worktreeDir(root: string, phase: string, workstream: string): string {
  return path.join(root, WORKTREES_DIR, phase, workstream);
}

/** Opens the repository holding the project root; `not-a-repo` when there is none. */
export async function openWorktreeManager(root: string): Promise<Result<WorktreeManager, OpenFailure>> {
  // Loaded on first use: most builds never touch git, and every CLI start would pay for it.
  const { simpleGit } = await importModule<typeof import('simple-git')>('simple-git');
  const gitIn = gitFactory(simpleGit);
  const git = gitIn(root);
  let inside: boolean;
  try {
    inside = (await git.raw(['rev-parse', '--is-inside-work-tree'])).trim() === 'true';
  } catch {
    inside = false;
  }
  if (!inside) return err({ kind: 'not-a-repo', root });
  const prefix = await run(git, ['rev-parse', '--show-prefix']);
  if (!prefix.ok) return err({ kind: 'git', failure: prefix.error });
  return ok(new SimpleGitWorktrees(root, git, prefix.value.trim(), gitIn));
}

/**
 * simple-git counts a command as failed only when it wrote to stderr; `git merge` reports a
 * conflict on stdout and `rev-parse --quiet` says nothing: here any non-zero exit fails.
 */
function gitFactory(simpleGit: typeof SimpleGitFactory): (dir: string) => SimpleGit {
  return (dir) =>
    simpleGit({
      baseDir: dir,
      errors(error, result) {
        if (error || result.exitCode === 0) return error;
        return Buffer.concat([...result.stdOut, ...result.stdErr]);
      },
    });
}

async function run(git: SimpleGit, args: string[]): Promise<Result<string, GitFailure>> {
  try {
    return ok(await git.raw(args));
  } catch (e) {
    return err({ command: `git ${args.join(' ')}`, message: e instanceof Error ? e.message.trim() : String(e) });
  }
}

/** `git status --porcelain=v1 -z` → [XY, path]; a rename's source path is dropped. */
function parseStatus(out: string): Array<[string, string]> {
  const fields = out.split('\0');
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length < 4) continue;
    const xy = f.slice(0, 2);
    entries.push([xy, f.slice(3)]);
    if (xy[0] === 'R' || xy[0] === 'C') i++;
  }
  return entries;
}

class SimpleGitWorktrees implements WorktreeManager {
  constructor(
    private readonly root: string,
    private readonly git: SimpleGit,
    /** the project's folder within the repository, with a trailing slash ('' at the top) */
    private readonly prefix: string,
    private readonly gitIn: (dir: string) => SimpleGit,
  ) {}

  async currentBranch(): Promise<Result<string, GitFailure>> {
    const r = await run(this.git, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
    if (!r.ok) return err({ ...r.error, message: 'HEAD is detached: check out a branch to integrate into' });
    return ok(r.value.trim());
  }

  async head(): Promise<Result<string, GitFailure>> {
    const r = await run(this.git, ['rev-parse', 'HEAD']);
    return r.ok ? ok(r.value.trim()) : r;
  }

  async dirtyFiles(): Promise<Result<string[], GitFailure>> {
    const r = await run(this.git, ['status', '--porcelain=v1', '-z', '--untracked-files=no']);
    if (!r.ok) return r;
    return ok(parseStatus(r.value).map(([, p]) => p));
  }

  async cleanStale(): Promise<Result<StaleReport, GitFailure>> {
    const worktreesRemoved: string[] = [];
    // Registrations whose folders are gone first, then folders under .uet/worktrees (registered or not).
    const pruned = await run(this.git, ['worktree', 'prune']);
    if (!pruned.ok) return pruned;
    const base = path.join(this.root, WORKTREES_DIR);
    for (const phase of await listDirs(base)) {
      for (const ws of await listDirs(path.join(base, phase))) {
        const dir = path.join(base, phase, ws);
        await run(this.git, ['worktree', 'remove', '--force', '--force', dir]);
        await fs.rm(dir, { recursive: true, force: true });
        worktreesRemoved.push(path.relative(this.root, dir));
      }
      await fs.rm(path.join(base, phase), { recursive: true, force: true });
    }
    const again = await run(this.git, ['worktree', 'prune']);
    if (!again.ok) return again;

    const branchesDeleted: string[] = [];
    const branchesKept: string[] = [];
    const listed = await run(this.git, ['for-each-ref', '--format=%(refname:short)', `refs/heads/${BRANCH_PREFIX}`]);
    if (!listed.ok) return listed;
    for (const branch of listed.value.split('\n').filter(Boolean)) {
      // A branch with no commit the user's branch lacks holds nothing to integrate.
      const ahead = await run(this.git, ['rev-list', '--count', `HEAD..${branch}`]);
      if (ahead.ok && ahead.value.trim() === '0') {
        const d = await this.deleteBranch(branch);
        if (d.ok) branchesDeleted.push(branch);
      } else {
        branchesKept.push(branch);
      }
    }
    return ok({ worktreesRemoved, branchesDeleted, branchesKept });
  }

  async add(phase: string, workstream: string): Promise<Result<Worktree & { readonly replaced?: string }, GitFailure>> {
    const dir = worktreeDir(this.root, phase, workstream);
    const branch = branchName(phase, workstream);
    const base = await this.head();
    if (!base.ok) return base;
    const old = await run(this.git, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
    const previous = old.ok ? old.value.trim() : undefined;
    await fs.mkdir(path.dirname(dir), { recursive: true });
    // -B: uet owns the uet/* branches; an older one (left by --no-integrate or a failed
    // integration) is replaced, and its tip is reported so nothing is lost silently.
    const added = await run(this.git, ['worktree', 'add', '--quiet', '-B', branch, dir, base.value]);
    if (!added.ok) return added;
    const wt: Worktree = { phase, workstream, dir, projectRoot: path.join(dir, this.prefix), branch, base: base.value };
    return ok(previous !== undefined && previous !== base.value ? { ...wt, replaced: previous } : wt);
  }

  async commitScope(wt: Worktree, scope: FilesScope, message: string): Promise<Result<CommitOutcome, GitFailure>> {
    const wtGit = this.gitIn(wt.dir);
    const status = await run(wtGit, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
    if (!status.ok) return status;
    const allowed = picomatch([...scope.write, ...scope.create], { dot: true });
    const forbidden = scope.forbidden.length > 0 ? picomatch([...scope.forbidden], { dot: true }) : () => false;
    const files: string[] = [];
    const outOfScope: string[] = [];
    for (const [xy, repoPath] of parseStatus(status.value)) {
      // Scope globs are relative to the project root; files outside the project are never in scope.
      const rel = repoPath.startsWith(this.prefix) ? repoPath.slice(this.prefix.length) : undefined;
      if (rel !== undefined && allowed(rel) && !forbidden(rel)) files.push(repoPath);
      else if (xy !== '??') outOfScope.push(repoPath); // untracked files outside the scope are outputs: silently left
    }
    if (files.length === 0) {
      // Nothing left to commit, but the branch may already hold commits (the patch pipeline
      // commits its verified patches in the worktree): those are the workstream's work.
      const tip = await run(wtGit, ['rev-parse', 'HEAD']);
      if (!tip.ok) return tip;
      const head = tip.value.trim();
      if (head === wt.base) return ok({ kind: 'nothing', outOfScope });
      const changed = await run(wtGit, ['diff', '--name-only', '-z', wt.base, head]);
      if (!changed.ok) return changed;
      return ok({ kind: 'committed', commit: head, files: changed.value.split('\0').filter(Boolean), outOfScope });
    }
    const added = await run(wtGit, ['add', '-A', '--', ...files.map((f) => `:(literal)${f}`)]);
    if (!added.ok) return added;
    const committed = await run(wtGit, ['commit', '--quiet', '--no-verify', '-m', message]);
    if (!committed.ok) return committed;
    const commit = await run(wtGit, ['rev-parse', 'HEAD']);
    if (!commit.ok) return commit;
    return ok({ kind: 'committed', commit: commit.value.trim(), files, outOfScope });
  }

  async merge(branch: string, message: string): Promise<Result<MergeOutcome, GitFailure>> {
    const ahead = await run(this.git, ['rev-list', '--count', `HEAD..${branch}`]);
    if (!ahead.ok) return ahead;
    if (ahead.value.trim() === '0') return ok({ kind: 'up-to-date' });
    const merged = await run(this.git, ['merge', '--no-ff', '--no-edit', '-m', message, branch]);
    if (merged.ok) {
      const head = await this.head();
      return head.ok ? ok({ kind: 'merged', commit: head.value }) : head;
    }
    const inProgress = await run(this.git, ['rev-parse', '--verify', '--quiet', 'MERGE_HEAD']);
    if (!inProgress.ok) return ok({ kind: 'refused', message: merged.error.message });
    const unmerged = await run(this.git, ['diff', '--name-only', '-z', '--diff-filter=U']);
    const files = unmerged.ok ? unmerged.value.split('\0').filter(Boolean) : [];
    const aborted = await run(this.git, ['merge', '--abort']);
    if (!aborted.ok) return aborted;
    return ok({ kind: 'conflict', files });
  }

  async resetTo(commit: string): Promise<Result<void, GitFailure>> {
    const r = await run(this.git, ['reset', '--quiet', '--keep', commit]);
    return r.ok ? ok(undefined) : r;
  }

  async remove(wt: Worktree): Promise<Result<void, GitFailure>> {
    // Twice --force: also a worktree with changes, untracked files, or a lock.
    const r = await run(this.git, ['worktree', 'remove', '--force', '--force', wt.dir]);
    await fs.rm(wt.dir, { recursive: true, force: true });
    await fs.rmdir(path.dirname(wt.dir)).catch(() => undefined); // the phase's folder, once empty
    if (!r.ok) {
      const pruned = await run(this.git, ['worktree', 'prune']);
      if (!pruned.ok) return pruned;
    }
    return ok(undefined);
  }

  async deleteBranch(branch: string): Promise<Result<void, GitFailure>> {
    const r = await run(this.git, ['branch', '--quiet', '-D', branch]);
    return r.ok ? ok(undefined) : r;
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}
