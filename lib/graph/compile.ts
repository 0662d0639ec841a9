/**
 * Compiles a checked ProjectSpec into the build graph: a pure function, no I/O.
 *
 * Nodes are tasks (`t:phase/ws/task`), gates (`g:phase/GATE`) and one barrier per phase
 * (`p:phase`). An edge points from a dependency to its dependent, and says why it exists,
 * so that a cycle can be printed as the path the user wrote.
 *
 * The checks run on a graphology graph that keeps where each edge was written; the build gets
 * the compact TaskGraph made from it (project.ts), whose layout the compiled-graph cache stores,
 * so a cached build (restoreCompiled) neither loads this module nor builds a graphology graph.
 */
import { DirectedGraph } from 'graphology';
import picomatch from 'picomatch';
import { hasCycle, topologicalSort } from 'graphology-dag';
import type { Diagnostic, SourceLoc } from '../spec/diagnostic.js';
import { errorAt } from '../spec/diagnostic.js';
import type { DependencyRef, GateSpec, PhaseSpec, ProjectSpec, TaskSpec, WorkstreamSpec } from '../spec/model.js';
import { globsOverlap } from '../spec/glob-overlap.js';
import type { Result } from '../util/result.js';
import { assertNever, err, ok } from '../util/result.js';
import type { BuildGraph, CompiledProject, NodeAttrs } from './project.js';
import { gateKey, nodeId, phaseKey, specNodes, taskKey, workstreamsOf } from './project.js';
import type { EdgeWhy } from './task-graph.js';
import { EDGE_WHYS, TaskGraph } from './task-graph.js';

interface EdgeAttrs {
  readonly why: EdgeWhy;
  /** where the user wrote the dependency, when they did */
  readonly loc?: SourceLoc;
  readonly raw?: string;
}

/**
 * The graph the compiler checks: edges keep where the user wrote them, for diagnostics.
 *
 * In graphology's graph a node's key is its index in spec order, as a string ("0", "1", ...),
 * not its node key: graphology keeps each node's neighbours in plain objects keyed by the
 * neighbours' keys, and for V8 an integer-like key is an element while every distinct string
 * key is a named property with a hidden class of its own. With 10,000 distinct node keys
 * linking the graph went through a chain of hidden-class transitions per node (a graph of
 * 10,000 tasks and ~30,000 edges: ~150 ms against ~56 ms keyed by index, and ~7 MB more heap).
 */
class CheckGraph {
  readonly graph = new DirectedGraph<NodeAttrs, EdgeAttrs>();
  /** node keys by graph key */
  private readonly keys: string[] = [];
  private readonly ids = new Map<string, string>();

  constructor(nodes: ReadonlyMap<string, NodeAttrs>) {
    for (const [key, attrs] of nodes) {
      const id = String(this.keys.length);
      this.keys.push(key);
      this.ids.set(key, id);
      this.graph.addNode(id, attrs);
    }
  }

  /** graphology's key of a node key; undefined for a node not in the spec */
  id(key: string): string | undefined {
    return this.ids.get(key);
  }

  /** the node key of graphology's key */
  key(id: string): string {
    return this.keys[Number(id)]!;
  }

  /** every node key, in spec order */
  nodeKeys(): readonly string[] {
    return this.keys;
  }

  outNeighbors(key: string): string[] {
    return this.graph.outNeighbors(this.ids.get(key)!).map((id) => this.key(id));
  }

  edgeAttributes(from: string, to: string): EdgeAttrs {
    return this.graph.getEdgeAttributes(this.ids.get(from)!, this.ids.get(to)!);
  }

  /** graphology-dag's topological order, as node keys */
  topologicalOrder(): string[] {
    return topologicalSort(this.graph).map((id) => this.key(id));
  }
}

export function compileProject(spec: ProjectSpec): Result<CompiledProject, Diagnostic[]> {
  const checked = new CheckGraph(specNodes(spec));
  const { graph } = checked;
  const workstreams = workstreamsOf(spec);

  const diagnostics: Diagnostic[] = [];
  const link = (from: string, to: string, attrs: EdgeAttrs): void => {
    if (from === to) {
      diagnostics.push(errorAt('E_CYCLE', `'${nodeId(to)}' depends on itself`, attrs.loc, 'remove the dependency'));
      return;
    }
    const source = checked.id(from);
    const target = checked.id(to);
    if (source === undefined || target === undefined) throw new Error(`bug: edge between unknown nodes ${from} -> ${to}`);
    if (!graph.hasEdge(source, target)) graph.addEdge(source, target, attrs);
  };
  /** the node keys a resolved reference stands for, as a dependency */
  const sourcesOf = (ref: DependencyRef): string[] => {
    const r = ref.resolved;
    switch (r.kind) {
      case 'task':
        return [taskKey(r.id)];
      case 'gate':
        return [gateKey(r.id)];
      case 'phase':
        return [phaseKey(r.id)];
      case 'ws': {
        const ws = workstreams.get(r.id);
        if (!ws) throw new Error(`bug: unresolved workstream ${r.id}`);
        return ws.tasks.map((t) => taskKey(t.fullId));
      }
      default:
        return assertNever(r, 'reference');
    }
  };
  const linkRef = (ref: DependencyRef, to: string): void => {
    for (const from of sourcesOf(ref)) link(from, to, { why: 'depends_on', loc: ref.loc, raw: ref.raw });
  };

  for (const phase of spec.phases) {
    const members: string[] = [];
    for (const ws of phase.workstreams) {
      for (const task of ws.tasks) {
        const to = taskKey(task.fullId);
        members.push(to);
        for (const ref of task.dependsOn) linkRef(ref, to);
        for (const ref of ws.dependsOn) linkRef(ref, to);
        for (const ref of phase.dependsOn) linkRef(ref, to);
      }
      if (ws.order === 'edit-static-runtime') linkImplicitOrder(ws, link);
    }
    for (const gate of phase.gates) {
      const to = gateKey(gate.fullId);
      members.push(to);
      for (const m of gate.members) link(taskKey(m), to, { why: 'gate-member', loc: gate.loc });
      for (const ref of gate.dependsOn) linkRef(ref, to);
      for (const ref of phase.dependsOn) linkRef(ref, to);
    }
    for (const m of members) link(m, phaseKey(phase.id), { why: 'barrier' });
  }

  if (diagnostics.length > 0) return err(diagnostics);
  // graphology-dag's check first, on graphology's keys; the search that names the cycle only when there is one
  const cycle = hasCycle(graph) ? findCycle(checked) : undefined;
  if (cycle) return err([cycleDiagnostic(checked, cycle)]);
  const order = checked.topologicalOrder();
  const conflicts = findScopeConflicts(checked, spec, order);
  if (conflicts.length > 0) return err(conflicts);
  return ok({ spec, graph: buildGraphOf(checked, order), order, workstreams });
}

function buildGraphOf(checked: CheckGraph, order: readonly string[]): BuildGraph {
  const { graph } = checked;
  // position in `order` by graphology's key
  const position: number[] = [];
  order.forEach((k, i) => (position[Number(checked.id(k))] = i));
  const edges: number[] = [];
  graph.forEachEdge((_e, attrs, from, to) => edges.push(position[Number(from)]!, position[Number(to)]!, EDGE_WHYS.indexOf(attrs.why)));
  const built = TaskGraph.fromLayout({ keys: order, edges }, order.map((k) => graph.getNodeAttributes(checked.id(k)!)));
  if (!built) throw new Error('bug: the compiler made an inconsistent graph');
  return built;
}

/**
 * `order: edit-static-runtime`: static tasks wait for the workstream's edit tasks, runtime
 * tasks for edit and static ones. Build tasks also wait for edit tasks: a patch edits the
 * sources a build reads, and building before it would waste the work.
 */
function linkImplicitOrder(ws: WorkstreamSpec, link: (from: string, to: string, attrs: EdgeAttrs) => void): void {
  const edits = ws.tasks.filter((t) => t.kind === 'edit');
  const statics = ws.tasks.filter((t) => t.kind === 'static');
  for (const task of ws.tasks) {
    const before =
      task.kind === 'static' || task.kind === 'build' ? edits : task.kind === 'runtime' ? [...edits, ...statics] : [];
    for (const b of before) link(taskKey(b.fullId), taskKey(task.fullId), { why: 'order', loc: task.loc });
  }
}

/** A cycle as a list of node keys, first == last; undefined when the graph is acyclic. Iterative DFS. */
function findCycle(graph: CheckGraph): string[] | undefined {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Map<string, number>();
  const parent = new Map<string, string>();
  for (const start of [...graph.nodeKeys()].sort()) {
    if ((color.get(start) ?? WHITE) !== WHITE) continue;
    const stack: Array<{ node: string; next: string[] }> = [{ node: start, next: graph.outNeighbors(start).sort() }];
    color.set(start, GREY);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.next.shift();
      if (child === undefined) {
        color.set(top.node, BLACK);
        stack.pop();
        continue;
      }
      const c = color.get(child) ?? WHITE;
      if (c === GREY) {
        const path = [child];
        for (let n = top.node; n !== child; n = parent.get(n)!) path.push(n);
        path.push(child);
        return path.reverse();
      }
      if (c === WHITE) {
        parent.set(child, top.node);
        color.set(child, GREY);
        stack.push({ node: child, next: graph.outNeighbors(child).sort() });
      }
    }
  }
  return undefined;
}

function cycleDiagnostic(graph: CheckGraph, cycle: string[]): Diagnostic {
  const path = cycle.map(nodeId).join(' -> ');
  // Point at an edge the user wrote, so the location is something they can edit.
  let loc: SourceLoc | undefined;
  for (let i = 0; i + 1 < cycle.length && !loc; i++) {
    const e = graph.edgeAttributes(cycle[i]!, cycle[i + 1]!);
    if (e.why === 'depends_on') loc = e.loc;
  }
  return errorAt('E_CYCLE', `dependency cycle: ${path}`, loc, 'remove one of these depends_on entries');
}

/**
 * E_SCOPE_CONFLICT: two workstreams that declare their own write scope, can run at the same
 * time (neither reaches the other, no shared conflict_group, both parallel_ok, not both in
 * worktrees) and whose write or create globs can match a common path.
 *
 * Built for thousands of workstreams: reachability is one pass over the topological order with
 * a bitset of scoped workstreams per node, and glob pairs whose literal bases are unrelated
 * folders are ruled out before the (costlier) overlap test.
 */
function findScopeConflicts(graph: CheckGraph, spec: ProjectSpec, order: readonly string[]): Diagnostic[] {
  const scoped: WorkstreamSpec[] = [];
  for (const p of spec.phases) for (const ws of p.workstreams) if (ws.declaresScope && ws.tasks.length > 0) scoped.push(ws);
  if (scoped.length < 2) return [];

  const words = Math.ceil(scoped.length / 32);
  const indexOfTask = new Map<string, number>();
  scoped.forEach((ws, i) => {
    for (const t of ws.tasks) indexOfTask.set(taskKey(t.fullId), i);
  });
  // reach[n]: the scoped workstreams with a task strictly downstream of node n
  const reach = new Map<string, Uint32Array>();
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    const bits = new Uint32Array(words);
    for (const next of graph.outNeighbors(n)) {
      const below = reach.get(next)!;
      for (let w = 0; w < words; w++) bits[w]! |= below[w]!;
      const i = indexOfTask.get(next);
      if (i !== undefined) bits[i >>> 5]! |= 1 << (i & 31);
    }
    reach.set(n, bits);
  }
  const wsReach = scoped.map((ws, i) => {
    const bits = new Uint32Array(words);
    for (const t of ws.tasks) {
      const r = reach.get(taskKey(t.fullId))!;
      for (let w = 0; w < words; w++) bits[w]! |= r[w]!;
    }
    bits[i >>> 5]! &= ~(1 << (i & 31));
    return bits;
  });
  const reaches = (a: number, b: number): boolean => (wsReach[a]![b >>> 5]! & (1 << (b & 31))) !== 0;
  const writes = scoped.map((ws) => [...ws.filesScope.write, ...ws.filesScope.create].map((g) => ({ glob: g, base: picomatch.scan(g).base })));

  const out: Diagnostic[] = [];
  for (let i = 0; i < scoped.length; i++) {
    for (let j = i + 1; j < scoped.length; j++) {
      const a = scoped[i]!;
      const b = scoped[j]!;
      if (!a.parallelOk || !b.parallelOk) continue;
      if (a.conflictGroup !== undefined && a.conflictGroup === b.conflictGroup) continue;
      // Each in its own worktree, they cannot trample each other; a real clash is a merge conflict.
      if (a.isolation === 'worktree' && b.isolation === 'worktree') continue;
      if (reaches(i, j) || reaches(j, i)) continue;
      const overlap = firstOverlap(writes[i]!, writes[j]!);
      if (!overlap) continue;
      out.push(
        errorAt(
          'E_SCOPE_CONFLICT',
          `workstreams '${a.fullId}' and '${b.fullId}' may run at the same time and both write '${overlap[0]}'${overlap[0] === overlap[1] ? '' : ` / '${overlap[1]}'`}`,
          b.loc,
          `make one depend on the other, put both in one conflict_group, or narrow their files_scope (see ${a.loc.file}:${a.loc.line})`,
        ),
      );
    }
  }
  return out;
}

/** Two literal bases can only hold a common path when one folder contains the other. */
function basesRelated(a: string, b: string): boolean {
  return a === '' || b === '' || a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

type ScopedGlob = { readonly glob: string; readonly base: string };

function firstOverlap(as: readonly ScopedGlob[], bs: readonly ScopedGlob[]): [string, string] | undefined {
  for (const a of as) for (const b of bs) if (basesRelated(a.base, b.base) && globsOverlap(a.glob, b.glob)) return [a.glob, b.glob];
  return undefined;
}
