/**
 * Which tasks name which paths in their input and output globs: what a build narrowed to the
 * files that changed since the last one asks first (lib/cli/proof-hint.ts). Pure.
 *
 * A literal glob (most of them: `src/a.ts`) is indexed by the path it names; a task with any
 * other glob is listed with those globs, to be tested one by one. Negations are left out:
 * erring towards "names it" only costs a decision.
 *
 * Two forms. A resident process (`uet serve`) indexes its project in memory once. A build in a
 * process of its own reads the index the compiled-graph cache stores (CachedTaskPaths): one
 * string searched for the changed paths, so it never reads the tasks themselves (at 10,000
 * tasks, testing every task's globs took ~10 ms, and reading every task ~25 ms more).
 */
import type { ProjectSpec } from '../spec/model.js';
import { NEEDS_WORK, normaliseRootRelative } from '../spec/paths.js';
import { taskKey } from './project.js';

/** what makes a glob more than a literal path */
export const MAGIC = /[*?[\]{}()!+@\\]/;

export interface TaskPaths {
  /** the tasks (node keys) with a literal glob naming `path` (normalised, root-relative) */
  named(path: string): readonly string[];
  /** the tasks with a literal glob naming a path directly in `folder` ('' for the root) */
  namedIn(folder: string): readonly string[];
  /** the tasks with any other glob, each with those globs */
  readonly patterned: ReadonlyArray<{ readonly key: string; readonly globs: readonly string[] }>;
}

/** a task node's key and the globs it reads and writes */
export interface TaskGlobs {
  readonly key: string;
  readonly globs: Iterable<string>;
}

/**
 * The index as the compiled-graph cache keeps it. `literal` is `\n` followed by one line per
 * path, `path TAB i SPACE i ...`, each i an index into the cached layout's keys; `patterned`
 * pairs such an index with the task's other globs. A path holding a tab or a newline cannot be
 * a line: its task is listed in `patterned` with that glob instead.
 */
export interface CachedTaskPaths {
  readonly literal: string;
  readonly patterned: ReadonlyArray<readonly [number, readonly string[]]>;
}

/** every task of the spec: its node key and the globs it reads and writes */
export function* taskGlobs(spec: ProjectSpec): Iterable<TaskGlobs> {
  for (const phase of spec.phases) {
    for (const ws of phase.workstreams) for (const t of ws.tasks) yield { key: taskKey(t.fullId), globs: [...(t.inputs ?? []), ...(t.outputs ?? [])] };
  }
}

/** The index of these tasks, in memory. */
export function indexTaskPaths(tasks: Iterable<TaskGlobs>): TaskPaths {
  const byPath = new Map<string, string[]>();
  const patterned: Array<{ key: string; globs: string[] }> = [];
  for (const { key, globs } of tasks) {
    const other = sortGlobs(globs, (p) => {
      const keys = byPath.get(p);
      if (keys === undefined) byPath.set(p, [key]);
      else if (keys[keys.length - 1] !== key) keys.push(key);
    });
    if (other) patterned.push({ key, globs: other });
  }
  let byFolder: Map<string, string[]> | undefined;
  return {
    named: (p) => byPath.get(p) ?? [],
    namedIn: (folder) => {
      if (byFolder === undefined) {
        byFolder = new Map();
        for (const [p, keys] of byPath) {
          const dir = folderOf(p);
          const list = byFolder.get(dir);
          if (list === undefined) byFolder.set(dir, [...keys]);
          else list.push(...keys);
        }
      }
      return byFolder.get(folder) ?? [];
    },
    patterned,
  };
}

/** a normalised path's folder: '' for one at the root */
function folderOf(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash < 0 ? '' : p.slice(0, slash);
}

/**
 * The folders a glob may list: its literal folder and those below it, down to `depth` levels
 * (Infinity past a `**`). A literal path lists its own folder only (depth 0). Errs towards
 * listing more: any character that may be special ends the literal part.
 */
export function globReach(glob: string): { readonly folder: string; readonly depth: number } {
  const folder = literalFolder(glob);
  const rest = folder === '' ? glob : glob.slice(folder.length + 1);
  return { folder, depth: rest.includes('**') ? Infinity : rest.split('/').length - 1 };
}

/**
 * The folder every path a glob matches lies in or below: the glob's literal start, up to its
 * last slash (`src/a/*.ts` -> `src/a`, `*.md` -> ''). A normalised glob's literal characters
 * match only themselves.
 */
export function literalFolder(glob: string): string {
  const magic = MAGIC.exec(glob);
  return folderOf(magic === null ? glob : glob.slice(0, magic.index));
}

/** The index of these tasks as the cache stores it; `indexOf` gives a task's index in the layout. */
export function cacheTaskPaths(tasks: Iterable<TaskGlobs>, indexOf: (key: string) => number): CachedTaskPaths {
  const byPath = new Map<string, number[]>();
  const patterned: Array<readonly [number, readonly string[]]> = [];
  for (const { key, globs } of tasks) {
    const i = indexOf(key);
    const kept: string[] = [];
    const other = sortGlobs(globs, (p) => {
      if (UNLINEABLE.test(p)) {
        kept.push(p);
        return;
      }
      const at = byPath.get(p);
      if (at === undefined) byPath.set(p, [i]);
      else if (at[at.length - 1] !== i) at.push(i);
    });
    if (other) kept.push(...other);
    if (kept.length > 0) patterned.push([i, kept]);
  }
  let literal = '\n';
  for (const [p, at] of byPath) literal += `${p}\t${at.join(' ')}\n`;
  return { literal, patterned };
}

/** a path that cannot be a line of CachedTaskPaths.literal */
const UNLINEABLE = /[\t\n]/;

/** The cached index, read against the layout's keys it was made with. */
export function cachedTaskPaths(cached: CachedTaskPaths, keys: readonly string[]): TaskPaths {
  return {
    named(p) {
      if (UNLINEABLE.test(p)) return [];
      const at = cached.literal.indexOf(`\n${p}\t`);
      if (at < 0) return [];
      const from = at + p.length + 2;
      const text = cached.literal.slice(from, cached.literal.indexOf('\n', from));
      return text.split(' ').map((i) => keys[Number(i)]!);
    },
    namedIn(folder) {
      // every line `path TAB indexes` whose path lies directly in the folder
      const { literal } = cached;
      const prefix = folder === '' ? '\n' : `\n${folder}/`;
      const out: string[] = [];
      for (let at = literal.indexOf(prefix); at >= 0; at = literal.indexOf(prefix, at + 1)) {
        const tab = literal.indexOf('\t', at + 1);
        const end = literal.indexOf('\n', tab);
        if (tab < 0 || end < 0 || literal.lastIndexOf('/', tab) > at + prefix.length - 1) continue;
        for (const i of literal.slice(tab + 1, end).split(' ')) out.push(keys[Number(i)]!);
      }
      return out;
    },
    patterned: cached.patterned.map(([i, globs]) => ({ key: keys[i]!, globs })),
  };
}

/** Whether a cached index is well formed against `keys` (a damaged cache is compiled again). */
export function validCachedTaskPaths(cached: unknown, keys: readonly string[]): cached is CachedTaskPaths {
  if (typeof cached !== 'object' || cached === null) return false;
  const { literal, patterned } = cached as Partial<CachedTaskPaths>;
  if (typeof literal !== 'string' || !literal.startsWith('\n') || !Array.isArray(patterned)) return false;
  const inRange = (i: unknown): boolean => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < keys.length;
  return patterned.every((p) => Array.isArray(p) && inRange(p[0]) && Array.isArray(p[1]) && p[1].every((g: unknown) => typeof g === 'string'));
}

/**
 * Hands each literal glob's normalised path to `literal` and returns the others (negations
 * left out), or undefined when there are none.
 */
function sortGlobs(globs: Iterable<string>, literal: (path: string) => void): string[] | undefined {
  let other: string[] | undefined;
  for (const g of globs) {
    if (g.startsWith('!')) continue;
    if (MAGIC.test(g)) {
      (other ??= []).push(g);
      continue;
    }
    // the spec loader normalised it already; this costs one regex test when so
    literal(NEEDS_WORK.test(g) ? (normaliseRootRelative(g) ?? g) : g);
  }
  return other;
}
