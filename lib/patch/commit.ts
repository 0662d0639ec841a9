/**
 * Committing verified patches with git: exactly the patched files, and never into an index that
 * already held staged changes (those are the user's: uet would sweep them into its commit).
 */
import { simpleGit } from 'simple-git';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';

/** Commit these root-relative paths (changed, created or deleted); the new commit's hash, or undefined when nothing differed from HEAD. */
export async function commitFiles(root: string, files: readonly string[], message: string): Promise<Result<string | undefined, string>> {
  try {
    const git = simpleGit(root);
    if (!(await git.checkIsRepo())) return err('the project is not in a git repository');
    const staged = (await git.diff(['--cached', '--name-only'])).trim();
    if (staged !== '') {
      return err(`the git index already holds staged changes (${staged.split('\n').slice(0, 3).join(', ')}): uet commits only into an index it did not find dirty`);
    }
    await git.raw(['add', '-A', '--', ...files]);
    const now = (await git.diff(['--cached', '--name-only'])).trim();
    if (now === '') return ok(undefined);
    const res = await git.commit(message);
    return ok(res.commit || undefined);
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
}
