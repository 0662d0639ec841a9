/**
 * Everything checked before a patch may write anything: format (parsable, no binary unless the
 * policy allows it), scope (every path inside the root, not through a symlink that leaves it,
 * within the workstream's effective files_scope: `write` for existing files, `create` for new
 * ones, never `forbidden` or a policy's forbid_paths), and size (files and lines changed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import type { FilesScope } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { ParsedPatch } from './parse.js';
import { describeParseProblem, parseUnifiedDiff } from './parse.js';
import type { PatchPolicy } from './policy.js';

/** Why a patch was refused; `code` is stable (it is written to reason.json). */
export interface Refusal {
  readonly code: 'E_PATCH_FORMAT' | 'E_PATCH_BINARY' | 'E_PATCH_PATH' | 'E_PATCH_SCOPE' | 'E_PATCH_POLICY' | 'E_PATCH_APPLY' | 'E_FIX_REVERTED';
  readonly message: string;
  readonly path?: string;
}

/** The file system questions validation asks, behind an interface for tests. */
export interface PathProbe {
  /** the first folder or file on the way to rel that is a symlink pointing outside the root, if any */
  symlinkEscape(rel: string): Promise<string | undefined>;
}

export function createPathProbe(root: string): PathProbe {
  let realRoot: Promise<string> | undefined;
  return {
    async symlinkEscape(rel) {
      realRoot ??= fs.realpath(root);
      const top = await realRoot;
      const segs = rel.split('/');
      for (let i = 1; i <= segs.length; i++) {
        const prefix = segs.slice(0, i).join('/');
        let st;
        try {
          st = await fs.lstat(path.join(root, prefix));
        } catch {
          return undefined; // nothing further exists: no link to follow
        }
        if (!st.isSymbolicLink()) continue;
        let target: string;
        try {
          target = await fs.realpath(path.join(root, prefix));
        } catch {
          return prefix; // a dangling link: where it points cannot be checked
        }
        if (target !== top && !target.startsWith(top + path.sep)) return prefix;
      }
      return undefined;
    },
  };
}

const PM = { dot: true } as const;
const matcher = (globs: readonly string[]): ((p: string) => boolean) => (globs.length === 0 ? () => false : picomatch([...globs], PM));

export interface ValidationContext {
  readonly scope: FilesScope;
  readonly policy: PatchPolicy;
  readonly probe: PathProbe;
}

/** Parse and check one patch text; the parsed patch when it may be applied. */
export async function validatePatch(text: string, ctx: ValidationContext): Promise<Result<ParsedPatch, Refusal>> {
  const parsed = parseUnifiedDiff(text);
  if (!parsed.ok) {
    const e = parsed.error;
    return err(e.kind === 'bad-path' ? { code: 'E_PATCH_PATH', message: describeParseProblem(e), path: e.path } : { code: 'E_PATCH_FORMAT', message: describeParseProblem(e) });
  }
  const p = parsed.value;
  const { policy, scope } = ctx;
  const binary = p.files.find((f) => f.binary);
  if (binary && policy.forbidBinary) {
    return err({ code: 'E_PATCH_BINARY', message: `binary hunk for '${binary.newPath ?? binary.oldPath}' (patch_policy forbid_binary)`, path: binary.newPath ?? binary.oldPath! });
  }
  const forbidden = matcher([...scope.forbidden, ...policy.forbidPaths]);
  const mayWrite = matcher(scope.write);
  const mayCreate = matcher(scope.create);
  for (const f of p.files) {
    for (const rel of [f.oldPath, f.newPath]) {
      if (rel === undefined) continue;
      const escape = await ctx.probe.symlinkEscape(rel);
      if (escape !== undefined) return err({ code: 'E_PATCH_PATH', message: `'${rel}' goes through the symlink '${escape}', which leaves the project root`, path: rel });
      if (forbidden(rel)) return err({ code: 'E_PATCH_SCOPE', message: `'${rel}' is forbidden (files_scope.forbidden or patch_policy forbid_paths)`, path: rel });
    }
    // Changing, deleting or renaming away a file needs `write`; a file the patch brings into being, `create`.
    const needs: Array<[string, 'write' | 'create']> = [];
    if (f.oldPath !== undefined) needs.push([f.oldPath, 'write']);
    if (f.newPath !== undefined && f.op !== 'modify') needs.push([f.newPath, 'create']);
    for (const [rel, what] of needs) {
      if ((what === 'write' ? mayWrite : mayCreate)(rel)) continue;
      const list = scope[what];
      return err({ code: 'E_PATCH_SCOPE', message: `'${rel}' is outside the workstream's files_scope.${what} (${list.length > 0 ? list.join(', ') : 'empty'})`, path: rel });
    }
  }
  if (policy.maxFilesChanged !== undefined && p.files.length > policy.maxFilesChanged) {
    return err({ code: 'E_PATCH_POLICY', message: `changes ${p.files.length} files; patch_policy max_files_changed is ${policy.maxFilesChanged}` });
  }
  if (policy.maxLinesChanged !== undefined && p.linesChanged > policy.maxLinesChanged) {
    return err({ code: 'E_PATCH_POLICY', message: `changes ${p.linesChanged} lines; patch_policy max_lines_changed is ${policy.maxLinesChanged}` });
  }
  return ok(p);
}
