/**
 * The build graph as a build reads it: node keys in topological order, each node's attributes,
 * and the edges both ways in compressed rows (one typed array of neighbours, one of offsets).
 *
 * The compiler checks the graph with graphology (cycles, scope conflicts, the topological sort);
 * the build only walks it. A graphology graph of 10,000 tasks took ~150 ms and tens of MB to
 * build on every run; this one is built from the compiled-graph cache's index arrays in a few
 * milliseconds, and never holds an object per edge.
 */

export const EDGE_WHYS = ['depends_on', 'order', 'gate-member', 'barrier', 'phase-dep'] as const;
export type EdgeWhy = (typeof EDGE_WHYS)[number];

/**
 * The graph's shape as plain JSON: `keys` in topological order (dependencies first) and
 * `edges` as flat [from, to, why] triples of indexes into `keys` and EDGE_WHYS, in the order the
 * compiler added them (which fixes the order neighbours are listed in).
 */
export interface GraphLayout {
  readonly keys: readonly string[];
  readonly edges: readonly number[];
}

/** Neighbour lists in compressed-row form: node i's neighbours are list[start[i] .. start[i+1]), each with its reason (an index into EDGE_WHYS). */
export interface Rows {
  readonly start: Uint32Array;
  readonly list: Uint32Array;
  readonly why: Uint8Array;
}

/** A graph's edges as rows both ways: into each node (`ins`, listing where they come from) and out of it (`outs`). */
export interface GraphRows {
  readonly ins: Rows;
  readonly outs: Rows;
}

export class TaskGraph<N> {
  private readonly index = new Map<string, number>();
  private readonly ins: Rows;
  private readonly outs: Rows;
  private every: EveryNode | undefined;

  /** Fails (undefined) when an edge names a node or reason that does not exist. */
  static fromLayout<N>(layout: GraphLayout, attrs: readonly N[]): TaskGraph<N> | undefined {
    if (attrs.length !== layout.keys.length || !edgesFit(layout)) return undefined;
    return new TaskGraph(layout.keys, { ins: rows(layout, 1, 0), outs: rows(layout, 0, 1) }, [...attrs], undefined);
  }

  /**
   * The graph the compiled-graph cache keeps: its keys, and its edges as the rows toRows gave,
   * each node's attributes made by `attrsOf` when first asked for (then kept): a build that
   * decides a few of its 10,000 tasks makes a few (see restoreCompiled).
   *
   * Making the rows from the edges (fromLayout) is two passes over each direction's edges, in
   * code that runs once per process and so is never optimised (~8 ms at 30,000 edges); rows
   * already made are taken as they are. Only their shape is checked: each neighbour's index is
   * the cache's to vouch for (it stores a digest of them: lib/graph/graph-cache.ts).
   */
  static fromRowsLazily<N>(keys: readonly string[], rows: GraphRows, attrsOf: (key: string) => N): TaskGraph<N> | undefined {
    return rowsFit(keys.length, rows.ins) && rowsFit(keys.length, rows.outs) && rows.ins.list.length === rows.outs.list.length
      ? new TaskGraph<N>(keys, rows, new Array<N | undefined>(keys.length), attrsOf)
      : undefined;
  }

  private constructor(
    /** the node keys, in topological order */
    readonly keys: readonly string[],
    rows: GraphRows,
    /** each node's attributes, by index; undefined until made (attrsOf) */
    private readonly attrs: Array<N | undefined>,
    private readonly attrsOf: ((key: string) => N) | undefined,
  ) {
    for (let i = 0; i < keys.length; i++) this.index.set(keys[i]!, i);
    this.ins = rows.ins;
    this.outs = rows.outs;
  }

  /** how many nodes */
  get order(): number {
    return this.keys.length;
  }

  /** every node key, in topological order */
  nodes(): string[] {
    return [...this.keys];
  }

  hasNode(key: string): boolean {
    return this.index.has(key);
  }

  /** the node's place in the topological order (dependencies first) */
  position(key: string): number {
    return this.at(key);
  }

  getNodeAttributes(key: string): N {
    const i = this.at(key);
    return this.attrs[i] ?? (this.attrs[i] = this.attrsOf!(key));
  }

  /** the nodes with an edge into `key`, in the order the compiler added those edges */
  inNeighbors(key: string): string[] {
    return this.neighbours(this.ins, this.at(key));
  }

  /** the nodes `key` has an edge into, in the order the compiler added those edges */
  outNeighbors(key: string): string[] {
    return this.neighbours(this.outs, this.at(key));
  }

  /** the edges into `key` as [from, why], in the order the compiler added them */
  inEdges(key: string): Array<[string, EdgeWhy]> {
    const i = this.at(key);
    const out: Array<[string, EdgeWhy]> = [];
    for (let j = this.ins.start[i]!; j < this.ins.start[i + 1]!; j++) out.push([this.keys[this.ins.list[j]!]!, EDGE_WHYS[this.ins.why[j]!]!]);
    return out;
  }

  /**
   * `keys` and every node they depend on, transitively, in the order a depth-first walk from the
   * last key meets them (inNeighbors in edge order, the last one first). The same set, in the
   * same order, as walking inNeighbors, without an array per node: a build of 10,000 tasks
   * walks them all before anything else.
   */
  dependencyClosure(keys: readonly string[]): Set<string> {
    const seen = new Uint8Array(this.order);
    const out = new Set<string>();
    const stack: number[] = keys.map((k) => this.at(k));
    const { start, list } = this.ins;
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (seen[i] === 1) continue;
      seen[i] = 1;
      out.add(this.keys[i]!);
      for (let j = start[i]!; j < start[i + 1]!; j++) if (seen[list[j]!] === 0) stack.push(list[j]!);
    }
    return out;
  }

  /**
   * Every node, as a set (in topological order). The plan of a build without targets is every
   * node, and a build narrowed by the no-op proof's hint only asks it `has`: walking 10,000
   * nodes into a Set of their keys (dependencyClosure) took ~5 ms of such a build.
   */
  everyNode(): ReadonlySet<string> {
    return (this.every ??= new EveryNode(this.keys, this.index));
  }

  /** Is `plan` everyNode's set (of this graph or another)? */
  static isEveryNode(plan: ReadonlySet<string>): boolean {
    return plan instanceof EveryNode;
  }

  /** the edges as rows both ways, for the compiled-graph cache (fromRowsLazily takes them back) */
  toRows(): GraphRows {
    return { ins: this.ins, outs: this.outs };
  }

  private at(key: string): number {
    const i = this.index.get(key);
    if (i === undefined) throw new Error(`bug: no node ${key} in the build graph`);
    return i;
  }

  private neighbours(r: Rows, i: number): string[] {
    const out: string[] = [];
    for (let j = r.start[i]!; j < r.start[i + 1]!; j++) out.push(this.keys[r.list[j]!]!);
    return out;
  }
}

/** A graph's nodes as a read-only set: its own index answers `has`, its key list is the order. */
class EveryNode implements ReadonlySet<string> {
  constructor(
    private readonly list: readonly string[],
    private readonly index: ReadonlyMap<string, number>,
  ) {}

  get size(): number {
    return this.list.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  forEach(callback: (value: string, value2: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const k of this.list) callback.call(thisArg, k, k, this);
  }

  // An array's iterator is what a Set's is to every caller (next, and itself as iterable);
  // TypeScript names the two types apart.
  [Symbol.iterator](): SetIterator<string> {
    return this.list.values() as unknown as SetIterator<string>;
  }

  keys(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  values(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  entries(): SetIterator<[string, string]> {
    return this.list.map((k): [string, string] => [k, k]).values() as unknown as SetIterator<[string, string]>;
  }
}

/** whether every edge names two nodes and a reason that exist */
function edgesFit(layout: GraphLayout): boolean {
  const n = layout.keys.length;
  // read by index, not destructured: this runs once per process, before V8 optimises it, and
  // unoptimised, a destructuring walks an iterator over a new array for each of ~30,000 edges
  const edges = layout.edges;
  if (edges.length % 3 !== 0) return false;
  for (let e = 0; e < edges.length; e += 3) {
    const from = edges[e]!;
    const to = edges[e + 1]!;
    const why = edges[e + 2]!;
    if (!(from >= 0 && from < n && to >= 0 && to < n && why >= 0 && why < EDGE_WHYS.length)) return false;
  }
  return true;
}

/**
 * Does `r` have the shape of rows over n nodes: n + 1 offsets from 0 to the end of its list, a
 * reason for each neighbour? What lies between is not walked (see fromRowsLazily).
 */
function rowsFit(n: number, r: Rows): boolean {
  return r.start.length === n + 1 && r.start[0] === 0 && r.start[n] === r.list.length && r.why.length === r.list.length;
}

/** Rows keyed by each edge's `by` end (0 = from, 1 = to), listing its `other` end, in edge order. */
function rows(layout: GraphLayout, by: 0 | 1, other: 0 | 1): Rows {
  const n = layout.keys.length;
  const e = layout.edges;
  const start = new Uint32Array(n + 1);
  for (let j = 0; j < e.length; j += 3) start[e[j + by]! + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const list = new Uint32Array(e.length / 3);
  const why = new Uint8Array(e.length / 3);
  for (let j = 0; j < e.length; j += 3) {
    const slot = fill[e[j + by]!]!++;
    list[slot] = e[j + other]!;
    why[slot] = e[j + 2]!;
  }
  return { start, list, why };
}
