/**
 * The compiled project as a build sees it: the checked spec and its build graph (TaskGraph),
 * the node keys, and restoring both from the compiled-graph cache. No graphology here: a build
 * whose graph comes from the cache never loads the compiler (compile.ts) at all.
 */
import type { GateSpec, PhaseSpec, ProjectSpec, TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { GraphRows } from './task-graph.js';
import { TaskGraph } from './task-graph.js';
import type { TaskPaths } from './task-paths.js';

export type NodeAttrs =
  | { readonly kind: 'task'; readonly id: string; readonly task: TaskSpec }
  | { readonly kind: 'gate'; readonly id: string; readonly gate: GateSpec }
  | { readonly kind: 'phase'; readonly id: string; readonly phase: PhaseSpec };

/** the graph a build walks */
export type BuildGraph = TaskGraph<NodeAttrs>;

export interface CompiledProject {
  readonly spec: ProjectSpec;
  readonly graph: BuildGraph;
  /** every node key in topological order (dependencies first): graphology-dag's order over the nodes in spec order */
  readonly order: readonly string[];
  readonly workstreams: ReadonlyMap<string, WorkstreamSpec>;
  /** which tasks name which paths, when the project came with that index (from the compiled-graph cache) */
  readonly paths?: TaskPaths;
}

const TASK_PREFIX = 't:';
export const taskKey = (fullId: string): string => `${TASK_PREFIX}${fullId}`;
export const gateKey = (fullId: string): string => `g:${fullId}`;
export const phaseKey = (id: string): string => `p:${id}`;

/** whether a node key is a task's (not a gate's or a phase's) */
export const isTaskKey = (key: string): boolean => key.startsWith(TASK_PREFIX);

/** how many of these node keys are tasks' (not gates' or phases') */
export function countTasks(keys: Iterable<string>): number {
  let n = 0;
  for (const k of keys) if (isTaskKey(k)) n++;
  return n;
}

/** The user-facing id of a node: `phase/ws/task`, `phase/GATE_X` or `phase`. */
export function nodeId(key: string): string {
  return key.slice(2);
}

/** Every node of the spec with its attributes, in the order the compiler adds them. */
export function specNodes(spec: ProjectSpec): Map<string, NodeAttrs> {
  const nodes = new Map<string, NodeAttrs>();
  for (const phase of spec.phases) {
    nodes.set(phaseKey(phase.id), { kind: 'phase', id: phase.id, phase });
    for (const ws of phase.workstreams) for (const task of ws.tasks) nodes.set(taskKey(task.fullId), { kind: 'task', id: task.fullId, task });
    for (const gate of phase.gates) nodes.set(gateKey(gate.fullId), { kind: 'gate', id: gate.fullId, gate });
  }
  return nodes;
}

export function workstreamsOf(spec: ProjectSpec): Map<string, WorkstreamSpec> {
  const out = new Map<string, WorkstreamSpec>();
  for (const phase of spec.phases) for (const ws of phase.workstreams) out.set(ws.fullId, ws);
  return out;
}

/**
 * The compiled project again, from a spec this compiler checked before and the graph it built
 * then, as its node keys and rows (the compiled-graph cache). Undefined when the two do not fit
 * together.
 *
 * Nodes are made when first asked for, and a task's node reads its TaskSpec from its
 * workstream only then: the cache hands over workstreams whose `tasks` are parsed on first
 * read (graph-cache.ts), so a build narrowed to the few tasks a changed file reaches makes a
 * few nodes and reads a few workstreams. (Making all 10,000 nodes of a large project took
 * ~10 ms, in code that runs once and so is never optimised.) What is checked here is what
 * needs no walk of the tasks: the graph holds as many nodes as the spec (its phases, its
 * gates, and each workstream's `taskCounts`); a damaged file that gets past this fails when
 * the node it damaged is read, saying so.
 */
export function restoreCompiled(spec: ProjectSpec, keys: readonly string[], rows: GraphRows, taskCounts: ReadonlyMap<string, number>, paths?: TaskPaths): CompiledProject | undefined {
  const workstreams = workstreamsOf(spec);
  const others = new Map<string, NodeAttrs>();
  for (const phase of spec.phases) {
    others.set(phaseKey(phase.id), { kind: 'phase', id: phase.id, phase });
    for (const gate of phase.gates) others.set(gateKey(gate.fullId), { kind: 'gate', id: gate.fullId, gate });
  }
  let tasks = 0;
  for (const wsId of workstreams.keys()) {
    const n = taskCounts.get(wsId);
    // read from a file: a damaged one may hold anything there
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return undefined;
    tasks += n;
  }
  if (keys.length !== others.size + tasks) return undefined;
  const attrsOf = (key: string): NodeAttrs => {
    const made = isTaskKey(key) ? cachedTaskAttrs(key, workstreams) : others.get(key);
    if (made === undefined) throw new Error(`the compiled-graph cache names a node '${nodeId(key)}' its spec does not hold: ${DAMAGED}`);
    return made;
  };
  const graph = TaskGraph.fromRowsLazily(keys, rows, attrsOf);
  return graph && { spec, graph, order: keys, workstreams, ...(paths ? { paths } : {}) };
}

const DAMAGED = 'delete .uet/graph.json and build again';

function cachedTaskAttrs(key: string, workstreams: ReadonlyMap<string, WorkstreamSpec>): NodeAttrs | undefined {
  const id = nodeId(key);
  const ws = workstreams.get(id.slice(0, id.lastIndexOf('/')));
  return ws && new CachedTaskAttrs(id, ws);
}

/** A task's node as restored: its TaskSpec is looked up in its workstream when first read. */
class CachedTaskAttrs {
  readonly kind = 'task' as const;
  #task: TaskSpec | undefined;
  readonly #ws: WorkstreamSpec;

  constructor(
    readonly id: string,
    ws: WorkstreamSpec,
  ) {
    this.#ws = ws;
  }

  get task(): TaskSpec {
    return (this.#task ??= taskIn(this.#ws, this.id));
  }
}

/**
 * A workstream's tasks not yet looked up, by id. Each task's node looks its task up once (then
 * keeps it), so an entry goes once found, and the map with its last entry: a cold build of
 * 10,000 tasks looks them all up, and keeping the maps cost ~1 MB.
 */
const tasksByIdOf = new WeakMap<WorkstreamSpec, Map<string, TaskSpec>>();

function taskIn(ws: WorkstreamSpec, fullId: string): TaskSpec {
  let byId = tasksByIdOf.get(ws);
  if (byId === undefined) {
    byId = new Map(ws.tasks.map((t) => [t.fullId, t]));
    tasksByIdOf.set(ws, byId);
  }
  const task = byId.get(fullId);
  byId.delete(fullId);
  if (byId.size === 0) tasksByIdOf.delete(ws);
  // the cache's writer took the keys and the tasks from one spec: only a damaged file gets here
  if (task === undefined) throw new Error(`the compiled-graph cache names task '${fullId}', which its workstream does not hold: ${DAMAGED}`);
  return task;
}
