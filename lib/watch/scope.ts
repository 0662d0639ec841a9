/**
 * What a watch session watches, and what a changed file means. Pure: built from the compiled
 * graph and the targets' plan, with no file system access.
 *
 * - `folders`: the root folders to watch, each with how deep below it a match can be (one
 *   recursive watcher per folder; a folder inside another that already covers it is dropped).
 * - `classify(paths)`: which paths are spec files (recompile), which tasks read a path as an
 *   input or a patch, and which paths are uet's own writes (declared outputs, the cache,
 *   .uet/) or ignored by `watch.ignore`: those never trigger anything.
 */
import path from 'node:path';
import picomatch from 'picomatch';
import type { CompiledProject } from '../graph/project.js';
import { CONFIG_FILE } from '../spec/project-root.js';

export interface WatchFolder {
  /** root-relative ('' = the project root) */
  readonly dir: string;
  /** how many folders below `dir` a watched file may be; Infinity for `**` */
  readonly depth: number;
}

export interface Classified {
  /** a spec file changed: the graph must be compiled again */
  readonly spec: boolean;
  /** node keys of the tasks that read one of the paths (inputs or patches) */
  readonly tasks: ReadonlySet<string>;
  /** the paths that mattered (spec files, inputs, patches), sorted */
  readonly relevant: readonly string[];
}

export interface WatchScope {
  readonly folders: readonly WatchFolder[];
  /** globs of every file the session watches (inputs, patches, spec files): for counting them */
  readonly globs: readonly string[];
  /** false for a path no task reads and no spec is, and for uet's own writes: chokidar need not watch it */
  isWatched(rel: string): boolean;
  /** a folder that can hold no watched file (.git, node_modules, .uet, the cache) */
  isIgnoredDir(rel: string): boolean;
  classify(paths: Iterable<string>): Classified;
}

const YAML_EXT = /\.ya?ml$/;
/** folders that never hold a spec or input file */
export const IGNORED_DIR_NAMES: ReadonlySet<string> = new Set(['.git', 'node_modules', '.uet']);

type Match = (p: string) => boolean;

const isLiteral = (g: string): boolean => !g.startsWith('!') && !picomatch.scan(g).isGlob;

/**
 * One test for many globs. Literal paths (most inputs and outputs name files) are a set
 * lookup; only real globs go through picomatch, which tests its patterns one by one: with
 * 1,000 tasks' outputs that made every file chokidar lists cost 1,000 regex tests.
 */
function matcher(globs: readonly string[]): Match {
  const negative = globs.filter((g) => g.startsWith('!')).map((g) => g.slice(1));
  const literals = new Set(negative.length > 0 ? [] : globs.filter(isLiteral));
  const patterns = globs.filter((g) => !g.startsWith('!') && !literals.has(g));
  if (patterns.length === 0) return literals.size === 0 ? () => false : (p) => literals.has(p);
  const test = picomatch(patterns, { dot: true, ...(negative.length > 0 ? { ignore: negative } : {}) });
  return literals.size === 0 ? test : (p) => literals.has(p) || test(p);
}

/**
 * Which tasks' globs match a path: literal paths through an index, globs tested task by task
 * (each task's negations apply to its own globs only).
 */
function globIndex(tasks: ReadonlyArray<{ key: string; globs: readonly string[] }>): (p: string) => string[] {
  const byPath = new Map<string, string[]>();
  const byGlob: Array<{ key: string; match: Match }> = [];
  for (const t of tasks) {
    if (t.globs.length === 0) continue;
    if (t.globs.every(isLiteral)) {
      for (const g of t.globs) byPath.set(g, [...(byPath.get(g) ?? []), t.key]);
    } else {
      byGlob.push({ key: t.key, match: matcher(t.globs) });
    }
  }
  return (p) => {
    const hits = byPath.get(p) ?? [];
    return byGlob.length === 0 ? hits : [...hits, ...byGlob.filter((t) => t.match(p)).map((t) => t.key)];
  };
}

/** The static folder a glob starts in, and how deep below it a match can be. */
export function globFolder(glob: string): WatchFolder {
  const g = glob.startsWith('!') ? glob.slice(1) : glob;
  const scan = picomatch.scan(g);
  const base = scan.isGlob ? scan.base : path.posix.dirname(g) === '.' ? '' : path.posix.dirname(g);
  const rest = scan.isGlob ? scan.glob : path.posix.basename(g);
  const depth = rest.includes('**') ? Infinity : rest.split('/').length - 1;
  return { dir: base === '.' ? '' : base, depth };
}

/** Drops folders that an ancestor already watches deeply enough; merges duplicates. */
export function coverFolders(folders: readonly WatchFolder[]): WatchFolder[] {
  const deepest = new Map<string, number>();
  for (const f of folders) deepest.set(f.dir, Math.max(deepest.get(f.dir) ?? -1, f.depth));
  const levels = (d: string): number => (d === '' ? 0 : d.split('/').length);
  const out: WatchFolder[] = [];
  for (const [dir, depth] of deepest) {
    let covered = false;
    for (const [other, otherDepth] of deepest) {
      if (other === dir) continue;
      const inside = other === '' || dir.startsWith(`${other}/`);
      if (inside && otherDepth >= depth + levels(dir) - levels(other)) covered = true;
    }
    if (!covered) out.push({ dir, depth });
  }
  return out.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
}

export function watchScope(project: CompiledProject, plan: ReadonlySet<string>, opts: { readonly ignore: readonly string[] }): WatchScope {
  const config = project.spec.config;
  const cacheDir = config.cache.dir.replace(/\/+$/, '');
  const reads: Array<{ key: string; globs: readonly string[] }> = [];
  for (const key of plan) {
    const attrs = project.graph.getNodeAttributes(key);
    if (attrs.kind === 'task') reads.push({ key, globs: [...(attrs.task.inputs ?? []), ...attrs.task.patches] });
  }
  const readGlobs = reads.flatMap((r) => r.globs);
  // every task's outputs, not only the plan's: a restored or built file is never a change
  const writes = project.spec.phases.flatMap((p) => p.workstreams.flatMap((w) => w.tasks.map((t) => ({ key: t.fullId, globs: t.outputs ?? [] }))));

  const phaseMatch = matcher(config.phases);
  const templateMatch = matcher(config.templates);
  const isSpec = (p: string): boolean => {
    if (p === CONFIG_FILE || phaseMatch(p) || templateMatch(p)) return true;
    // phases/<phase>/*.yaml: a workstream file of the phase file phases/<phase>.yaml
    if (!YAML_EXT.test(p)) return false;
    const dir = path.posix.dirname(p);
    return phaseMatch(`${dir}.yaml`) || phaseMatch(`${dir}.yml`);
  };
  const isIgnoredDir = (rel: string): boolean => {
    if (rel === cacheDir || rel.startsWith(`${cacheDir}/`)) return true;
    return rel.split('/').some((seg) => IGNORED_DIR_NAMES.has(seg));
  };
  const writersOf = globIndex(writes);
  const isOutput = (p: string): boolean => writersOf(p).length > 0;
  const isUserIgnored = matcher(opts.ignore);
  const readersOf = globIndex(reads);
  const isRead = (p: string): boolean => readersOf(p).length > 0;
  const ours = (rel: string): boolean => isIgnoredDir(rel) || isOutput(rel) || isUserIgnored(rel);

  const specGlobs = [CONFIG_FILE, ...config.phases, ...config.templates];
  const folders = coverFolders([
    ...readGlobs.filter((g) => !g.startsWith('!')).map(globFolder),
    { dir: '', depth: 0 },
    ...config.templates.map(globFolder),
    // one level deeper for the phases' workstream folders
    ...config.phases.map(globFolder).map((f) => ({ dir: f.dir, depth: f.depth + 1 })),
  ]);

  return {
    folders,
    globs: [...new Set([...readGlobs.filter((g) => !g.startsWith('!')), ...specGlobs])],
    isIgnoredDir,
    isWatched: (rel) => !ours(rel) && (isSpec(rel) || isRead(rel)),
    classify(paths) {
      let spec = false;
      const tasks = new Set<string>();
      const relevant: string[] = [];
      for (const p of new Set(paths)) {
        if (ours(p)) continue;
        let matters = false;
        if (isSpec(p)) {
          spec = true;
          matters = true;
        }
        for (const t of readersOf(p)) {
          tasks.add(t);
          matters = true;
        }
        if (matters) relevant.push(p);
      }
      return { spec, tasks, relevant: relevant.sort() };
    },
  };
}

/** The seeds and everything that depends on them, inside the plan. */
export function dependentsClosure(project: CompiledProject, plan: ReadonlySet<string>, seeds: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const stack = [...seeds].filter((k) => plan.has(k));
  while (stack.length > 0) {
    const k = stack.pop()!;
    if (out.has(k)) continue;
    out.add(k);
    for (const next of project.graph.outNeighbors(k)) if (plan.has(next) && !out.has(next)) stack.push(next);
  }
  return out;
}
