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
import type { CompiledProject } from '../graph/compile.js';
import { CONFIG_FILE } from '../spec/load.js';

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
const IGNORED_DIR_NAMES = new Set(['.git', 'node_modules', '.uet']);

type Match = (p: string) => boolean;

function matcher(globs: readonly string[]): Match {
  const positive = globs.filter((g) => !g.startsWith('!'));
  if (positive.length === 0) return () => false;
  const negative = globs.filter((g) => g.startsWith('!')).map((g) => g.slice(1));
  return picomatch(positive, { dot: true, ...(negative.length > 0 ? { ignore: negative } : {}) });
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
  const byTask: Array<{ key: string; reads: Match }> = [];
  const readGlobs: string[] = [];
  const outputGlobs: string[] = [];
  for (const key of plan) {
    const attrs = project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') continue;
    const reads = [...(attrs.task.inputs ?? []), ...attrs.task.patches];
    readGlobs.push(...reads);
    outputGlobs.push(...(attrs.task.outputs ?? []));
    if (reads.length > 0) byTask.push({ key, reads: matcher(reads) });
  }
  // every task's outputs, not only the plan's: a restored or built file is never a change
  for (const t of project.spec.phases.flatMap((p) => p.workstreams.flatMap((w) => w.tasks))) outputGlobs.push(...(t.outputs ?? []));

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
  const isOutput = matcher(outputGlobs);
  const isUserIgnored = matcher(opts.ignore);
  const isRead = matcher(readGlobs);
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
    globs: [...new Set([...readGlobs, ...specGlobs])],
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
        for (const t of byTask) {
          if (!t.reads(p)) continue;
          tasks.add(t.key);
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
