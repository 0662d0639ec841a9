/**
 * A build guided by the no-op proof's hint (lib/build/noop-proof.ts, ProofHint): the proof
 * failed only on some paths, so every task those paths cannot reach is fresh as the proof
 * says, and only the rest of the plan is decided.
 *
 * Reach: the tasks reading a changed file (an input glob matches it), the tasks writing one (an
 * output glob matches it), the tasks whose globs may list a changed folder, the nodes a changed
 * spec redefined (lib/graph/graph-changes.ts), and everything depending on those.
 * A task outside that closure has the definition and dependencies it had, consulted only
 * unchanged paths, its recorded success is the one the proof saw (the freshness log is
 * unchanged), and so are its dependencies' outputs: it is fresh, with the digest its record
 * gives.
 */
import type { EarlierStates, Settled } from '../build/runner.js';
import { outputsDigest } from '../build/key.js';
import path from 'node:path';
import type { ProofHint } from '../build/noop-proof.js';
import { signature, specFilesDigest } from '../build/noop-proof.js';
import { sha256 } from '../hash/digest.js';
import { statQuiet } from '../util/stat-quiet.js';
import type { SuccessRecord } from '../cache/types.js';
import type { CompiledProject, NodeAttrs } from '../graph/project.js';
import { redefinedSince, type LoadedGraph } from '../graph/graph-cache.js';
import { countTasks, isTaskKey } from '../graph/project.js';
import picomatch from 'picomatch';
import { dependentsClosure } from '../watch/scope.js';
import { assertNever } from '../util/result.js';
import { NEEDS_WORK, normaliseRootRelative } from '../spec/paths.js';
import { globReach, indexTaskPaths, literalPrefix, MAGIC, selfAndAncestors, taskGlobs, type TaskPaths } from '../graph/task-paths.js';

export interface NarrowedPlan {
  /** the nodes to decide */
  readonly plan: ReadonlySet<string>;
  /** how the other nodes of the full plan stand (looked up: there are thousands) */
  readonly earlier: EarlierStates;
  /** tasks (not gates or barriers) left out as fresh */
  readonly unchangedTasks: number;
  /** the graph is not the one the proof's build ran on: the plan holds the nodes it redefined */
  readonly respecified: boolean;
}

/** The digest of a node left out whose digest no decided task reads (gates and barriers feed no key). */
const UNCHANGED = 'unchanged';
/** how the nodes left out stand: one object each for the thousands of them */
const UNCHANGED_TASK: Settled = Object.freeze({ status: 'fresh', digest: UNCHANGED });
const UNCHANGED_NODE: Settled = Object.freeze({ status: 'passed', digest: UNCHANGED });

/** what a glob must not hold to be a literal path already in normal form: MAGIC or NEEDS_WORK */
const NOT_PLAIN = new RegExp(`${MAGIC.source}|${NEEDS_WORK.source}`);
const matchers = new Map<string, (p: string) => boolean>();

/**
 * Might a task with these globs read (or write) one of the changed files? Erring towards yes
 * only costs a decision: negations are ignored, and dotfiles match. A literal glob (most of
 * them) is a set lookup.
 */
function reads(globs: readonly string[], changed: ReadonlySet<string>): boolean {
  for (const g of globs) {
    // most globs: one test, one lookup (at 10,000 tasks, narrowing took ~12 ms with two tests)
    if (!NOT_PLAIN.test(g)) {
      if (changed.has(g)) return true;
      continue;
    }
    if (g.startsWith('!')) continue;
    if (!MAGIC.test(g)) {
      // the spec loader normalised it already; this costs one regex test when so
      if (changed.has(normaliseRootRelative(g) ?? g)) return true;
      continue;
    }
    // a changed path that does not begin with the glob's literal start cannot match (nor can a
    // folder above it, which `dir/**` matches): most globs of a build are never compiled (at
    // 10,000 tasks of a glob each, compiling and testing them all took ~280 ms; the 100 of one
    // folder ~6 ms)
    const prefix = literalPrefix(g);
    for (const p of changed) if ((p.startsWith(prefix) || within(prefix, p)) && matcherOf(g)(p)) return true;
  }
  return false;
}

/** is the path `folder` or below it? */
function within(p: string, folder: string): boolean {
  return folder === '' || p === folder || (p.startsWith(folder) && p.charCodeAt(folder.length) === 0x2f);
}

/**
 * At 10,000 tasks a served touch narrowed in ~10–12 ms testing every task's globs, ~3 ms with the
 * index. Making it costs more than one test of every task, so a resident process makes it
 * (a build in a process of its own reads the one the compiled-graph cache keeps: project.paths).
 */
const pathIndexes = new WeakMap<CompiledProject, TaskPaths>();

/** Indexes which tasks name which paths, for every later narrowPlan of this project. */
export function indexProjectPaths(project: CompiledProject): void {
  if (pathIndexes.has(project)) return;
  pathIndexes.set(project, indexTaskPaths(taskGlobs(project.spec)));
}

/** the tasks of the plan that might read or write one of the changed paths */
function touchedTasks(project: CompiledProject, plan: ReadonlySet<string>, changed: ReadonlySet<string>): Set<string> {
  const index = pathIndexes.get(project) ?? project.paths;
  const seeds = new Set<string>();
  if (index === undefined) {
    for (const key of plan) {
      const attrs = project.graph.getNodeAttributes(key);
      if (attrs.kind === 'task' && (reads(attrs.task.inputs ?? [], changed) || reads(attrs.task.outputs ?? [], changed))) seeds.add(key);
    }
    return seeds;
  }
  for (const p of changed) for (const key of index.named(p)) if (plan.has(key)) seeds.add(key);
  for (const { key, globs } of index.patternedIn(foldersAbove(changed))) {
    if (!seeds.has(key) && plan.has(key) && reads(globs, changed)) seeds.add(key);
  }
  return seeds;
}

/**
 * The tasks of the plan whose globs may have listed one of these folders: a glob lists the
 * folder it starts from (its static part; a literal path's own folder, where the globber
 * answers it from a listing) and those below it as deep as its pattern reaches. Erring towards
 * yes only costs a decision.
 */
function listingTasks(project: CompiledProject, plan: ReadonlySet<string>, folders: readonly string[]): Set<string> {
  const seeds = new Set<string>();
  if (folders.length === 0) return seeds;
  // a project compiled without the index (rare) indexes its tasks here
  const index = pathIndexes.get(project) ?? project.paths ?? indexTaskPaths(taskGlobs(project.spec));
  for (const folder of folders) for (const key of index.namedIn(folder)) if (plan.has(key)) seeds.add(key);
  const mayList = (glob: string): boolean => {
    const reach = globReach(glob);
    return folders.some((f) => folderWithin(f, reach));
  };
  for (const { key, globs } of index.patternedIn(foldersAbove(folders))) if (!seeds.has(key) && plan.has(key) && globs.some(mayList)) seeds.add(key);
  return seeds;
}

/** each path and every folder above it: where a glob matching or listing one of them may start */
function foldersAbove(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of paths) for (const f of selfAndAncestors(p)) out.add(f);
  return out;
}

/** is `folder` the glob's literal folder, or below it no deeper than the glob reaches? */
function folderWithin(folder: string, reach: ReturnType<typeof globReach>): boolean {
  if (!within(folder, reach.folder)) return false;
  const levels = (f: string): number => (f === '' ? 0 : f.split('/').length);
  return levels(folder) - levels(reach.folder) <= reach.depth;
}

function matcherOf(glob: string): (p: string) => boolean {
  let m = matchers.get(glob);
  if (!m) {
    m = picomatch(glob, { dot: true });
    matchers.set(glob, m);
  }
  return m;
}

/** Does deciding this node read its task dependencies' digests (lib/build/runner.ts, processTask)? */
function readsUpstreamDigests(attrs: NodeAttrs): boolean {
  switch (attrs.kind) {
    case 'task':
      return true;
    case 'gate':
      return attrs.gate.run !== undefined;
    case 'phase':
      return false;
    default:
      return assertNever(attrs, 'node');
  }
}

/**
 * Does the hint vouch for a cached graph's spec files (path and content hash each), so that
 * loading it need not hash them again (~11 ms at 10,000 tasks)? The proof was written by a
 * build that ran on a graph of exactly these (its specDigest); the fast path found none of them
 * changed since (each is signed in the proof) and no folder changed (a spec file could have
 * been added to one), so they hold what they held then, and the graph is what they compile to.
 */
export function specVouchedBy(hint: ProofHint, root: string, files: ReadonlyArray<readonly [string, string]>): boolean {
  if (hint.proof.root !== root || hint.folders.length > 0) return false;
  const changed = new Set(hint.changed);
  if (files.some(([file]) => changed.has(file))) return false;
  return specFilesDigest(files, sha256) === hint.proof.specDigest;
}

/** Is the hint about this build: its root, its targets, and the freshness log as the proof saw it (checked under the lock)? */
export function hintHolds(hint: ProofHint, root: string, targets: readonly string[], uetDir: string): boolean {
  return (
    hint.proof.root === root &&
    JSON.stringify(hint.proof.targets) === JSON.stringify(targets) &&
    hint.proof.state === signature(statQuiet(path.join(uetDir, 'fresh.log')))
  );
}

/**
 * undefined: decide the whole plan (a task has no record; the graph is not the proof's, and
 * how it differs is not known node by node). `planTasks`: how many tasks the plan holds, when
 * known. `loaded`: the graph's spec files, and what compiling them again changed
 * (LoadedGraph).
 */
export function narrowPlan(
  project: CompiledProject,
  plan: ReadonlySet<string>,
  hint: ProofHint,
  records: (taskId: string) => SuccessRecord | undefined,
  loaded: Pick<LoadedGraph, 'files' | 'changedSince'>,
  planTasks: number = countTasks(plan),
): NarrowedPlan | undefined {
  const changed = new Set(hint.changed);
  // the graph the proof's build ran on is recognised by its spec files' digest
  const isProofGraph = (files: LoadedGraph['files']): boolean => specFilesDigest(files, sha256) === hint.proof.specDigest;
  const redefined = redefinedSince(loaded, isProofGraph);
  if (redefined === undefined) return undefined;
  const seeds = touchedTasks(project, plan, changed);
  for (const key of listingTasks(project, plan, hint.folders)) seeds.add(key);
  for (const key of redefined) seeds.add(key);
  const respecified = !isProofGraph(loaded.files);
  // declared output globs cover every recorded output
  const reached = dependentsClosure(project, plan, seeds);
  // Only the direct task dependencies of a decided task (or gate with a command) feed its key:
  // they get their recorded digest. A barrier or a gate without a command only needs its
  // dependencies settled, and a phase barrier depends on every task of its phase: reading
  // their records would cost as much as deciding them.
  const feeding = new Set<string>();
  for (const key of reached) {
    if (!readsUpstreamDigests(project.graph.getNodeAttributes(key))) continue;
    for (const dep of project.graph.inNeighbors(key)) if (isTaskKey(dep) && !reached.has(dep) && plan.has(dep)) feeding.add(dep);
  }
  const fed = new Map<string, Settled>();
  for (const key of feeding) {
    const attrs = project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') continue;
    const rec = records(attrs.task.fullId);
    if (!rec) return undefined;
    fed.set(key, { status: 'fresh', digest: attrs.task.outputs ? outputsDigest(rec.outputs) : `key:${rec.key}` });
  }
  // reached lies within the plan (dependentsClosure keeps to it)
  const unchangedTasks = planTasks - countTasks(reached);
  const earlier: EarlierStates = {
    // the nodes left out are fresh or passed, each with a digest
    settledWell: true,
    get: (key) => (reached.has(key) || !plan.has(key) ? undefined : (fed.get(key) ?? (isTaskKey(key) ? UNCHANGED_TASK : UNCHANGED_NODE))),
    *entries() {
      for (const key of plan) {
        const s = earlier.get(key);
        if (s) yield [key, s];
      }
    },
  };
  return { plan: reached, earlier, unchangedTasks, respecified };
}
