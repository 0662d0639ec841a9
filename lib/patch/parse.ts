/**
 * A unified diff, read into the files it touches. Parsing is the `diff` package's; this module
 * adds what uet needs on top: root-relative paths (git's `a/` `b/` prefixes and `/dev/null`
 * understood), what each file operation is, binary hunks detected, lines counted, a summary.
 * Pure: no file system.
 */
import { parsePatch } from 'diff';
import type { StructuredPatch } from 'diff';
import { normaliseRootRelative } from '../spec/paths.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';

export type FileOp = 'modify' | 'create' | 'delete' | 'rename';

export interface FilePatch {
  readonly op: FileOp;
  /** root-relative path read (undefined for create) */
  readonly oldPath: string | undefined;
  /** root-relative path written (undefined for delete) */
  readonly newPath: string | undefined;
  readonly binary: boolean;
  readonly added: number;
  readonly removed: number;
  readonly structured: StructuredPatch;
}

export interface ParsedPatch {
  readonly files: readonly FilePatch[];
  /** the first line of the patch's description (a `Subject:` line or text before the diff), if any */
  readonly summary: string | undefined;
  readonly linesChanged: number;
  /** every root-relative path touched, sorted, unique */
  readonly paths: readonly string[];
}

export type ParseProblem =
  | { readonly kind: 'unparsable'; readonly detail: string }
  | { readonly kind: 'empty'; readonly detail: string }
  | { readonly kind: 'bad-path'; readonly path: string; readonly detail: string };

export function describeParseProblem(p: ParseProblem): string {
  switch (p.kind) {
    case 'unparsable':
      return `not a parsable unified diff: ${p.detail}`;
    case 'empty':
      return `not a patch: ${p.detail}`;
    case 'bad-path':
      return `path '${p.path}' ${p.detail}`;
  }
}

const DEV_NULL = '/dev/null';

/** `a/x` / `b/x` as git writes them; a plain path otherwise. Undefined for /dev/null. */
function headerPath(name: string | undefined, prefix: 'a/' | 'b/'): string | undefined | null {
  if (name === undefined) return null;
  let n = name.trim();
  // quoted names ("a/with space") as git writes them
  if (n.startsWith('"') && n.endsWith('"') && n.length >= 2) n = n.slice(1, -1).replace(/\\(["\\])/g, '$1');
  if (n === DEV_NULL) return undefined;
  if (n.startsWith(prefix)) n = n.slice(prefix.length);
  return n;
}

function checkPath(raw: string): Result<string, ParseProblem> {
  if (raw === '') return err({ kind: 'bad-path', path: raw, detail: 'is empty' });
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw) || raw.startsWith('~')) return err({ kind: 'bad-path', path: raw, detail: 'is absolute: a patch may only touch files inside the project root' });
  if (raw.includes('\\')) return err({ kind: 'bad-path', path: raw, detail: 'has a backslash: use forward slashes' });
  if (raw.includes('\0')) return err({ kind: 'bad-path', path: raw, detail: 'has a NUL byte' });
  const n = normaliseRootRelative(raw);
  if (n === undefined || n === '' || n.split('/').includes('..')) return err({ kind: 'bad-path', path: raw, detail: 'leaves the project root' });
  return ok(n);
}

/** The description before the first diff header: a `Subject:` line wins, else the first line of text. */
function summaryOf(text: string): string | undefined {
  let first: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (/^(diff --git |--- |Index: |@@ )/.test(line)) break;
    const subject = /^Subject:\s*(?:\[[^\]]*\]\s*)?(.*)$/.exec(line);
    if (subject) return subject[1]!.trim() || undefined;
    if (first === undefined && line.trim() !== '' && !/^(From |Date:|From:|commit |Author:|index )/.test(line)) first = line.trim();
  }
  return first;
}

export function parseUnifiedDiff(text: string): Result<ParsedPatch, ParseProblem> {
  let parsed: StructuredPatch[];
  try {
    parsed = parsePatch(text);
  } catch (e) {
    return err({ kind: 'unparsable', detail: e instanceof Error ? e.message : String(e) });
  }
  const files: FilePatch[] = [];
  const binaryText = /^(GIT binary patch|Binary files .* differ)$/m.test(text);
  for (const sp of parsed) {
    const binary = sp.isBinary === true || (binaryText && sp.hunks.length === 0);
    if (sp.hunks.length === 0 && !binary && !sp.isRename && !sp.isCreate && !sp.isDelete) continue;
    const oldRaw = headerPath(sp.oldFileName, 'a/');
    const newRaw = headerPath(sp.newFileName, 'b/');
    if (oldRaw === null && newRaw === null) return err({ kind: 'unparsable', detail: 'a hunk without ---/+++ file headers' });
    let oldPath: string | undefined;
    let newPath: string | undefined;
    for (const [raw, set] of [
      [oldRaw, (p: string) => (oldPath = p)],
      [newRaw, (p: string) => (newPath = p)],
    ] as const) {
      if (raw === undefined || raw === null) continue;
      const checked = checkPath(raw);
      if (!checked.ok) return checked;
      set(checked.value);
    }
    if (oldRaw === null) oldPath = newPath;
    if (newRaw === null) newPath = oldPath;
    const op: FileOp =
      oldPath === undefined || sp.isCreate === true ? 'create' : newPath === undefined || sp.isDelete === true ? 'delete' : oldPath !== newPath ? 'rename' : 'modify';
    if (op === 'create') oldPath = undefined;
    if (op === 'delete') newPath = undefined;
    let added = 0;
    let removed = 0;
    for (const h of sp.hunks) {
      for (const l of h.lines) {
        if (l.startsWith('+')) added++;
        else if (l.startsWith('-')) removed++;
      }
    }
    files.push({ op, oldPath, newPath, binary, added, removed, structured: sp });
  }
  if (files.length === 0) {
    return err(/^@@ /m.test(text) ? { kind: 'unparsable', detail: 'hunks without ---/+++ file headers' } : { kind: 'empty', detail: 'no file headers (--- / +++) and no hunks found' });
  }
  const paths = new Set<string>();
  for (const f of files) {
    if (f.oldPath !== undefined) paths.add(f.oldPath);
    if (f.newPath !== undefined) paths.add(f.newPath);
  }
  return ok({
    files,
    summary: summaryOf(text),
    linesChanged: files.reduce((n, f) => n + f.added + f.removed, 0),
    paths: [...paths].sort(),
  });
}
