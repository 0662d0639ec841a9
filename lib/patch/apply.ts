/**
 * Applying parsed patches: first in memory (pure: a view of the tree in, the changed files out,
 * so a patch that applies only partly changes nothing), then onto disk all at once: every new
 * content goes to a temporary file beside its target, and only when all are written are they
 * renamed into place and deletions made.
 *
 * Text is handled as latin1 ("binary") strings on both sides, patch and file: every byte maps to
 * one character and back, so CRLF, invalid UTF-8 and a missing final newline survive untouched.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { applyPatch } from 'diff';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { errnoCode } from '../util/errno.js';
import type { FilePatch, ParsedPatch } from './parse.js';

/** root-relative path -> content (latin1), or null: the file is absent */
export type TreeView = ReadonlyMap<string, string | null>;
/** what a set of patches changes: path -> new content, or null: delete */
export type TreeChanges = Map<string, string | null>;

export interface ApplyProblem {
  readonly path: string;
  readonly detail: string;
}

function applyFile(f: FilePatch, read: (p: string) => string | null): Result<Array<[string, string | null]>, ApplyProblem> {
  const target = f.newPath ?? f.oldPath!;
  if (f.binary) return err({ path: target, detail: 'binary hunks cannot be applied by uet (no content in the patch)' });
  if (f.op === 'create') {
    if (read(target) !== null) return err({ path: target, detail: 'already exists, but the patch creates it' });
    const created = applyPatch('', f.structured);
    if (created === false) return err({ path: target, detail: 'the new file’s hunk is malformed' });
    return ok([[target, created]]);
  }
  const source = read(f.oldPath!);
  if (source === null) return err({ path: f.oldPath!, detail: 'does not exist, but the patch changes it' });
  const anchor = anchorProblem(source, f);
  if (anchor !== undefined) return err({ path: f.oldPath!, detail: anchor });
  const result = f.structured.hunks.length === 0 ? source : applyPatch(source, f.structured);
  if (result === false) return err({ path: f.oldPath!, detail: 'a hunk does not apply (its context or removed lines are not in the file)' });
  switch (f.op) {
    case 'delete':
      if (result !== '') return err({ path: f.oldPath!, detail: 'the patch deletes the file but does not remove all of its content' });
      return ok([[f.oldPath!, null]]);
    case 'rename':
      if (read(f.newPath!) !== null) return err({ path: f.newPath!, detail: 'already exists, but the patch renames a file to it' });
      return ok([
        [f.oldPath!, null],
        [f.newPath!, result],
      ]);
    case 'modify':
      return ok([[f.oldPath!, result]]);
  }
}

/**
 * Where git apply pins a hunk and the diff package lets it float: a hunk starting at line 1 (or 0)
 * must match at the start of the file, and one without trailing context at its end.
 */
function anchorProblem(source: string, f: FilePatch): string | undefined {
  const lines = source.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const bare = (l: string): string => (l.endsWith('\r') ? l.slice(0, -1) : l);
  for (const [i, h] of f.structured.hunks.entries()) {
    const body = h.lines.filter((l) => !l.startsWith('\\'));
    const old = body.filter((l) => l.startsWith(' ') || l.startsWith('-')).map((l) => bare(l.slice(1)));
    if (old.length === 0) continue;
    const matchesAt = (start: number): boolean => start >= 0 && old.every((l, k) => lines[start + k] !== undefined && bare(lines[start + k]!) === l);
    if (h.oldStart <= 1 && !matchesAt(0)) return `hunk ${i + 1} starts at line 1, but the file does not begin with its lines (git apply pins such a hunk to the start)`;
    if (!body[body.length - 1]!.startsWith(' ') && !matchesAt(lines.length - old.length)) {
      return `hunk ${i + 1} has no trailing context, but its lines are not the end of the file (git apply pins such a hunk to the end)`;
    }
  }
  return undefined;
}

/**
 * Apply patches one after another to a view of the tree, in memory. `base` must hold every
 * path the patches touch (null when absent). Returns the changed files, or the first problem.
 */
export function applyInMemory(patches: readonly ParsedPatch[], base: TreeView): Result<TreeChanges, ApplyProblem> {
  const changes: TreeChanges = new Map();
  const read = (p: string): string | null => {
    if (changes.has(p)) return changes.get(p)!;
    const v = base.get(p);
    if (v === undefined) throw new Error(`applyInMemory: ${p} missing from the base view`);
    return v;
  };
  for (const patch of patches) {
    for (const f of patch.files) {
      const r = applyFile(f, read);
      if (!r.ok) return r;
      for (const [p, v] of r.value) changes.set(p, v);
    }
  }
  return ok(changes);
}

/** The current content of root-relative files (null when absent). */
export async function readTree(root: string, paths: Iterable<string>): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  await Promise.all(
    [...paths].map(async (p) => {
      try {
        out.set(p, await fs.readFile(path.join(root, p), 'latin1'));
      } catch (e) {
        if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') out.set(p, null);
        else throw e;
      }
    }),
  );
  return out;
}

/**
 * Write changes to disk all or nothing (as far as a file system allows): new contents go to
 * temporary files first (any failure there removes them and changes nothing), then renames,
 * then deletions. A replaced file keeps its mode.
 */
export async function writeTree(root: string, changes: ReadonlyMap<string, string | null>): Promise<void> {
  const staged: Array<{ tmp: string; dest: string }> = [];
  const tag = randomBytes(6).toString('hex');
  try {
    for (const [rel, content] of [...changes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (content === null) continue;
      const dest = path.join(root, rel);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      const tmp = `${dest}.uet-${tag}.tmp`;
      let mode = 0o644;
      try {
        mode = (await fs.stat(dest)).mode & 0o7777;
      } catch {
        // a new file
      }
      await fs.writeFile(tmp, content, { encoding: 'latin1', mode });
      await fs.chmod(tmp, mode);
      staged.push({ tmp, dest });
    }
  } catch (e) {
    await Promise.all(staged.map((s) => fs.rm(s.tmp, { force: true })));
    throw e;
  }
  for (const s of staged) await fs.rename(s.tmp, s.dest);
  for (const [rel, content] of changes) {
    if (content !== null) continue;
    await fs.rm(path.join(root, rel), { force: true });
    await removeEmptyParents(root, path.dirname(rel));
  }
}

/** git apply removes the folders a deletion leaves empty; so do we (never the root). */
async function removeEmptyParents(root: string, rel: string): Promise<void> {
  let dir = rel;
  while (dir !== '.' && dir !== '' && dir !== '/') {
    try {
      await fs.rmdir(path.join(root, dir));
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}
