/**
 * What recompiling the spec changed, node by node: the nodes of the new graph whose compiled
 * definition or incoming edges differ from the graph the compiled-graph cache held before.
 *
 * Why: an edit to one workstream file of a 10,000-task project (a comment, one task's command)
 * made the next build decide every task again, ~1 s of keys and stats on top of the compile,
 * where a source edit decides only what the edited file reaches (lib/cli/proof-hint.ts). A
 * task's key reads its own definition, the config (shell, hashed variables, tools), and its
 * dependencies' outputs; a task whose definition and edges compiled the same, in a project whose
 * config and phases compiled the same, has the key it had, so the no-op proof vouches for it
 * as it does after a source edit.
 *
 * Compared without source locations (`loc`): a line added above a task moves it, and nothing
 * a build decides reads where a definition sits. Anything compared beyond a workstream's own
 * tasks (the config, a phase, its gates, the list of spec files) that differs answers
 * `project`: every node is decided again.
 */
import type { ConfigSpec, PhaseSpec, TaskSpec, WorkstreamSpec } from '../spec/model.js';
import { EDGE_WHYS, type GraphRows } from './task-graph.js';
import { taskKey } from './project.js';

/** A workstream as a compiled graph holds it: its own fields; its tasks through CompiledGraph. */
export type WorkstreamFields = Omit<WorkstreamSpec, 'tasks'>;

/** A compiled graph as the compiled-graph cache holds it (lib/graph/graph-cache.ts). */
export interface CompiledGraph {
  readonly config: ConfigSpec;
  readonly specFiles: readonly string[];
  readonly phases: ReadonlyArray<Omit<PhaseSpec, 'workstreams'> & { readonly workstreams: readonly WorkstreamFields[] }>;
  /** node keys, and the rows of edges between them (undefined: damaged) */
  readonly keys: readonly string[];
  readonly rows: GraphRows | undefined;
  /** a workstream's tasks (by the workstream's fullId) as the cache's text: the same text, the same tasks */
  tasksText(workstream: string): string;
  tasks(workstream: string): readonly TaskSpec[];
}

export type GraphChanges =
  /** the nodes (keys in the new graph) whose definition or incoming edges differ, or that are new */
  | { readonly kind: 'nodes'; readonly nodes: ReadonlySet<string> }
  /** something every node may read differs: no node can be vouched for */
  | { readonly kind: 'project'; readonly why: string };

/** source locations: where a definition sits, which nothing a build decides reads */
const IGNORED = new Set(['loc']);
/** a workstream's own fields, its tasks apart (they are compared task by task) */
const WORKSTREAM_IGNORED = new Set(['loc', 'tasks', 'taskCount']);
/** a phase's own fields, its workstreams apart */
const PHASE_IGNORED = new Set(['loc', 'workstreams']);

/** The changes from the graph `was` to the graph `now`. */
export function graphChanges(was: CompiledGraph, now: CompiledGraph): GraphChanges {
  if (!sameExcept(was.config, now.config, IGNORED)) return { kind: 'project', why: 'the config changed' };
  if (was.specFiles.join('\n') !== now.specFiles.join('\n')) return { kind: 'project', why: 'spec files were added or removed' };
  if (was.phases.length !== now.phases.length) return { kind: 'project', why: 'phases were added or removed' };
  const nodes = new Set<string>();
  for (let i = 0; i < now.phases.length; i++) {
    const phaseWas = was.phases[i]!;
    const phaseNow = now.phases[i]!;
    if (!sameExcept(phaseWas, phaseNow, PHASE_IGNORED)) return { kind: 'project', why: `phase ${phaseNow.id} changed` };
    const workstreamsWas = new Map(phaseWas.workstreams.map((ws) => [ws.fullId, ws]));
    for (const ws of phaseNow.workstreams) {
      const old = workstreamsWas.get(ws.fullId);
      if (old === undefined || !sameExcept(old, ws, WORKSTREAM_IGNORED)) {
        for (const task of now.tasks(ws.fullId)) nodes.add(taskKey(task.fullId));
        continue;
      }
      if (was.tasksText(old.fullId) === now.tasksText(ws.fullId)) continue;
      const tasksWas = new Map(was.tasks(old.fullId).map((t) => [t.fullId, t]));
      for (const task of now.tasks(ws.fullId)) {
        const prior = tasksWas.get(task.fullId);
        if (prior === undefined || !sameExcept(prior, task, IGNORED)) nodes.add(taskKey(task.fullId));
      }
    }
  }
  const edges = changedEdges(was, now);
  if (edges === undefined) return { kind: 'project', why: 'the graph cache holds damaged rows' };
  for (const key of edges) nodes.add(key);
  return { kind: 'nodes', nodes };
}

/** the nodes of `now` whose incoming edges (each with its reason) are not the ones they had, new nodes included; undefined when either graph's rows are damaged */
function changedEdges(was: CompiledGraph, now: CompiledGraph): string[] | undefined {
  if (was.rows === undefined || now.rows === undefined) return undefined;
  const indexWas = new Map(was.keys.map((k, i) => [k, i]));
  const indexNow = new Map(now.keys.map((k, i) => [k, i]));
  // each old node's index in the new graph (-1: gone), so that edges compare as numbers: a
  // string per edge was ~9 MB to collect at 10,000 tasks
  const toNow = Int32Array.from(was.keys, (k) => indexNow.get(k) ?? -1);
  const edge = (source: number, why: number): number => source * EDGE_WHYS.length + why;
  const { ins } = now.rows;
  const insWas = was.rows.ins;
  const out: string[] = [];
  for (let i = 0; i < now.keys.length; i++) {
    const key = now.keys[i]!;
    const j = indexWas.get(key);
    if (j === undefined) {
      out.push(key);
      continue;
    }
    const edges: number[] = [];
    for (let e = ins.start[i]!; e < ins.start[i + 1]!; e++) edges.push(edge(ins.list[e]!, ins.why[e]!));
    const edgesWas: number[] = [];
    for (let e = insWas.start[j]!; e < insWas.start[j + 1]!; e++) edgesWas.push(edge(toNow[insWas.list[e]!]!, insWas.why[e]!));
    if (!sameIncoming(edges, edgesWas)) out.push(key);
  }
  return out;
}

/**
 * The same edges (numbered by source and reason; one from a node gone is negative, and so
 * matches none), whatever order the compiler added them in (moving a task in its file reorders
 * them)
 */
function sameIncoming(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  if (a.every((x, i) => x === b[i])) return true;
  const sorted = [...b].sort((x, y) => x - y);
  return [...a].sort((x, y) => x - y).every((x, i) => x === sorted[i]);
}

/**
 * Whether two values of a compiled spec mean the same, leaving out the fields named in
 * `ignored` (at the top level; `loc` at every depth). Keys in any order: a task decoded from the
 * cache lists its fields in its workstream's first task's order, which an edit of that first
 * task can change.
 */
export function sameExcept(a: unknown, b: unknown, ignored: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((x, i) => sameExcept(x, other[i], IGNORED));
  }
  const fa = a as Record<string, unknown>;
  const fb = b as Record<string, unknown>;
  let count = 0;
  for (const k in fa) {
    if (ignored.has(k) || fa[k] === undefined) continue;
    count++;
    if (!sameExcept(fa[k], fb[k], IGNORED)) return false;
  }
  for (const k in fb) if (!ignored.has(k) && fb[k] !== undefined) count--;
  return count === 0;
}
