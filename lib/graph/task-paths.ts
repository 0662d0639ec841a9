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
  /**
   * the tasks with any other glob, each with those globs, whose globs start (literalFolder) in one
   * of these folders: a changed path is matched only by globs starting in its folder or above,
   * and a folder listed only by globs starting in it or above
   */
  patternedIn(folders: Iterable<string>): ReadonlyArray<PatternedTask>;
}

/** a task with globs other than literal paths */
export interface PatternedTask {
  readonly key: string;
  readonly globs: readonly string[];
}

/** a path, then each folder it lies in up to the root (''): the folders a glob matching it, or listing it, may start in */
export function selfAndAncestors(p: string): string[] {
  const out = [p];
  for (let at = p.lastIndexOf('/'); at >= 0; at = p.lastIndexOf('/', at - 1)) out.push(p.slice(0, at));
  if (p !== '') out.push('');
  return out;
}

/** a task node's key and the globs it reads and writes */
export interface TaskGlobs {
  readonly key: string;
  readonly globs: Iterable<string>;
}

/**
 * The index as the compiled-graph cache keeps it. `literal` is `\n` followed by one line per
 * path, `path TAB i SPACE i ...`, each i an index into the cached layout's keys. `patterned` is
 * `\n` followed by one line per task and folder its other globs start in, `"folder" TAB i TAB
 * ["glob", ...]` (JSON strings: no tab or newline in them), so a build finds the few it needs
 * by searching the text: parsing 10,000 tasks' globs and testing each took ~40 ms of a touch
 * (~20 of them collecting what the parse allocated). A path holding a tab or a newline cannot
 * be a line of `literal`: its task is listed in `patterned` with that glob instead.
 */
export interface CachedTaskPaths {
  readonly literal: string;
  readonly patterned: string;
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
  const patterned = new Map<string, PatternedTask[]>();
  for (const { key, globs } of tasks) {
    const other = sortGlobs(globs, (p) => {
      const keys = byPath.get(p);
      if (keys === undefined) byPath.set(p, [key]);
      else if (keys[keys.length - 1] !== key) keys.push(key);
    });
    if (!other) continue;
    const task = { key, globs: other };
    for (const folder of startFolders(other)) {
      const list = patterned.get(folder);
      if (list === undefined) patterned.set(folder, [task]);
      else list.push(task);
    }
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
    patternedIn: (folders) => {
      const out = new Map<string, PatternedTask>();
      for (const folder of folders) for (const task of patterned.get(folder) ?? []) out.set(task.key, task);
      return [...out.values()];
    },
  };
}

/** the distinct folders globs start in */
function startFolders(globs: readonly string[]): Set<string> {
  return new Set(globs.map(literalFolder));
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
  return folderOf(literalPrefix(glob));
}

/** A glob's literal start: every path it matches begins with it (`src/a/b*.ts` -> `src/a/b`). */
export function literalPrefix(glob: string): string {
  const magic = MAGIC.exec(glob);
  return magic === null ? glob : glob.slice(0, magic.index);
}

/** The index of these tasks as the cache stores it; `indexOf` gives a task's index in the layout. */
export function cacheTaskPaths(tasks: Iterable<TaskGlobs>, indexOf: (key: string) => number): CachedTaskPaths {
  const byPath = new Map<string, number[]>();
  let patterned = '\n';
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
    if (kept.length === 0) continue;
    const json = JSON.stringify(kept);
    for (const folder of startFolders(kept)) patterned += `${JSON.stringify(folder)}\t${i}\t${json}\n`;
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
    patternedIn(folders) {
      const { patterned } = cached;
      const out = new Map<string, PatternedTask>();
      for (const folder of folders) {
        const prefix = `\n${JSON.stringify(folder)}\t`;
        for (let at = patterned.indexOf(prefix); at >= 0; at = patterned.indexOf(prefix, at + 1)) {
          const tab = patterned.indexOf('\t', at + prefix.length);
          const end = patterned.indexOf('\n', tab);
          const key = keys[Number(patterned.slice(at + prefix.length, tab))];
          const globs = parseGlobs(end < 0 ? '' : patterned.slice(tab + 1, end));
          // written by cacheTaskPaths, so a line that does not read back is a damaged file
          if (tab < 0 || key === undefined || globs === undefined) throw new Error('the compiled-graph cache holds a damaged index of task paths: delete .uet/graph.json and build again');
          out.set(key, { key, globs });
        }
      }
      return [...out.values()];
    },
  };
}

function parseGlobs(text: string): string[] | undefined {
  try {
    const globs = JSON.parse(text) as unknown;
    return Array.isArray(globs) && globs.every((g) => typeof g === 'string') ? (globs as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a cached index is well formed against `keys` (a damaged cache is compiled again). */
export function validCachedTaskPaths(cached: unknown): cached is CachedTaskPaths {
  if (typeof cached !== 'object' || cached === null) return false;
  const { literal, patterned } = cached as Partial<CachedTaskPaths>;
  return typeof literal === 'string' && literal.startsWith('\n') && typeof patterned === 'string' && patterned.startsWith('\n');
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
