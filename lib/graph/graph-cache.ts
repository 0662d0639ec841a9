/**
 * The compiled-graph cache: the checked spec and the layout of its compiled graph, stored in
 * .uet/graph.json with the content hashes of the spec files they came from. While those files
 * (found through the stat index, so usually without reading them) are unchanged, a build parses
 * no YAML, runs no schema check and does not compile.
 *
 * The file is a line of JSON, the header, followed by each workstream's tasks as JSON text at
 * the byte offsets the header gives. A build parses the header, and a workstream's tasks only
 * when it reads one: a touch of a 10,000-task project reads 4 of its 100 workstreams, and the
 * tasks are ~70 % of the file.
 *
 * The graph's edges are kept as the rows a build walks (each node's neighbours both ways, see
 * TaskGraph), in binary, base64 in the header, with their SHA-256: making them from a list of
 * edges took ~8 ms of every build at 30,000 edges, in code that runs once per process and so is
 * never optimised; decoding and checking them takes ~1.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { FileHasher } from '../hash/types.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { ExpandedWorkstream } from '../spec/load.js';
import { listSpecFiles } from '../spec/spec-files.js';
import type { PhaseSpec, ProjectSpec, TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { UET_VERSION } from '../version.js';
import type { CompiledProject } from './project.js';
import { restoreCompiled } from './project.js';
import type { GraphRows } from './task-graph.js';
import { sha256 } from '../hash/digest.js';
import { cachedTaskPaths, cacheTaskPaths, taskGlobs, validCachedTaskPaths, type CachedTaskPaths } from './task-paths.js';
import { graphChanges, type CompiledGraph, type GraphChanges } from './graph-changes.js';

/**
 * Bumped when the file's layout changes: a file of another format is rebuilt. Format 1 files
 * named the writer `uetVersion` and had no format; this one does not have that field, so a uet
 * that knows only format 1 rebuilds a later file rather than misreading its tasks. Format 3
 * kept each workstream's tasks as a string, and the index of the paths tasks name; format 4
 * keeps the tasks after the header's line; format 5 the graph's rows instead of its edges;
 * format 6 the tasks' other globs as searchable text, by the folder each starts in.
 */
const GRAPH_CACHE_FORMAT = 6;

/**
 * The cache's content. `Tasks` is how a workstream's tasks are held: as their JSON text
 * (GraphCacheJson: what is written, and what tests and tools read), or in the file's header as
 * the [start, end) byte offsets of that text after the header's line (Span).
 */
interface GraphCacheFile<Tasks> {
  /** the uet version that wrote it */
  readonly writer: string;
  readonly format: number;
  readonly files: ReadonlyArray<readonly [string, string]>;
  readonly warnings: readonly Diagnostic[];
  readonly spec: CachedSpec<Tasks>;
  readonly layout: CachedLayout;
  /** which tasks name which paths, against layout.keys */
  readonly paths: CachedTaskPaths;
}
type Span = readonly [number, number];

/** The compiled graph: its node keys in topological order, and its rows (rowsBytes) as base64 with the SHA-256 of those bytes. */
interface CachedLayout {
  readonly keys: readonly string[];
  readonly rows: string;
  readonly rowsDigest: string;
}
/** the cache's content with each workstream's tasks as JSON text (CachedTask[]) */
export type GraphCacheJson = GraphCacheFile<string>;

/**
 * A task as the cache keeps it: its workstream's first task whole, every other one as the fields
 * that differ from that first task, and under '-' the fields that task has and this one lacks.
 */
type CachedTask = Partial<Record<keyof TaskSpec, unknown>> & { readonly '-'?: readonly string[] };
/**
 * A workstream as the cache keeps it: its tasks (CachedTask[] as JSON text, or where that text
 * is), parsed only when the build reads one of them (lib/graph/project.ts, restoreCompiled), and
 * how many there are.
 */
type CachedWorkstream<Tasks> = Omit<WorkstreamSpec, 'tasks'> & { readonly tasks: Tasks; readonly taskCount: number };
interface CachedSpec<Tasks> extends Omit<ProjectSpec, 'phases'> {
  readonly phases: ReadonlyArray<Omit<PhaseSpec, 'workstreams'> & { readonly workstreams: ReadonlyArray<CachedWorkstream<Tasks>> }>;
}

export interface LoadedGraph {
  readonly project: CompiledProject;
  readonly warnings: readonly Diagnostic[];
  readonly fromCache: boolean;
  /** the spec files it was compiled from, each with its content hash (see stillCurrent) */
  readonly files: ReadonlyArray<readonly [string, string]>;
  /**
   * the workstreams after template expansion, when asked for and loaded from the YAML (not
   * from the cache). Only when asked: they hold the parsed YAML and its positions, which a
   * build holding its LoadedGraph would keep alive (at 10,000 tasks: 40 → 33 MB live after
   * the first collection, 172 → 165 MB peak RSS of a cold build).
   */
  readonly expanded?: readonly ExpandedWorkstream[];
  /**
   * Compiled afresh, with `compareWithLast`, over a cached graph of this format: what differs
   * from that graph, node by node (lib/graph/graph-changes.ts), and the spec files (with their
   * content hashes) that graph was compiled from.
   */
  readonly changedSince?: { readonly files: ReadonlyArray<readonly [string, string]>; readonly changes: GraphChanges };
}

const cachePathIn = (uetDir: string): string => path.join(uetDir, 'graph.json');

const NOTHING: ReadonlySet<string> = new Set();

/** the same spec files, each with the same content hash, in the same order */
export function sameSpecFileList(a: LoadedGraph['files'], b: LoadedGraph['files']): boolean {
  return a.length === b.length && a.every(([file, hash], i) => b[i]![0] === file && b[i]![1] === hash);
}

/**
 * The nodes of `loaded` whose definitions may differ from those of an earlier graph, the one
 * compiled from the spec files `isEarlier` recognises: none when `loaded` was compiled from
 * those very files (the same paths, the same contents), for the compile is deterministic; the
 * nodes compiling the spec again redefined, when the graph it replaced was that one (and
 * nothing project-wide changed). undefined: not known.
 */
export function redefinedSince(loaded: Pick<LoadedGraph, 'files' | 'changedSince'>, isEarlier: (files: LoadedGraph['files']) => boolean): ReadonlySet<string> | undefined {
  if (isEarlier(loaded.files)) return NOTHING;
  const since = loaded.changedSince;
  if (since === undefined || since.changes.kind !== 'nodes') return undefined;
  return isEarlier(since.files) ? since.changes.nodes : undefined;
}

export interface LoadOptions {
  readonly useCache?: boolean;
  readonly keepExpanded?: boolean;
  /**
   * Told where much of what loading allocated has just become unreachable (the YAML read into
   * a spec; the compiler done; the compiled graph stored): a caller bounding its heap may
   * collect there.
   */
  readonly onGarbage?: () => void;
  /**
   * Vouches for a cached graph's spec files (the path and content hash of each) without their
   * being hashed again: true when something else proves they are unchanged since a build ran on
   * exactly these (the no-op proof a hinted build follows: lib/cli/proof-hint.ts).
   */
  readonly specVouched?: (files: ReadonlyArray<readonly [string, string]>) => boolean;
  /** compiling afresh, say what changed since the cached graph (LoadedGraph.changes) */
  readonly compareWithLast?: boolean;
}

export async function loadCompiledProject(root: string, uetDir: string, hasher: FileHasher, opts: LoadOptions = {}): Promise<Result<LoadedGraph, Diagnostic[]>> {
  if (opts.useCache !== false) {
    const cached = readCache(cachePathIn(uetDir));
    if (cached && (opts.specVouched?.(cached.file.files) === true || (await stillValid(root, cached.file, hasher)))) {
      const project = restoreFromCache(cached, root);
      if (project) return ok({ project, warnings: cached.file.warnings, fromCache: true, files: cached.file.files });
    }
    if (cached && opts.compareWithLast === true) return compileFresh(root, uetDir, hasher, opts, true, cached);
  }
  return compileFresh(root, uetDir, hasher, opts, true);
}

/**
 * Compiles the spec and stores the cache. With `readBack`, the build then runs on the project
 * the next build will read from the cache, parsed from the very text written: the compiled one
 * holds what only the compiler needed (each reference with its source location, strings that
 * keep whole YAML files alive). At 10,000 tasks a cold build starts its tasks with 26 MB live
 * instead of 34. Should the text not read back (a compiler bug), it compiles again and runs on
 * what it compiled.
 */
async function compileFresh(root: string, uetDir: string, hasher: FileHasher, opts: LoadOptions, readBack: boolean, last?: ReadCache): Promise<Result<LoadedGraph, Diagnostic[]>> {
  const stored = await compileAndStore(root, uetDir, hasher, opts, readBack);
  if (!stored.ok) return err(stored.error);
  const { text, warnings, expanded, compiled, files } = stored.value;
  const kept = expanded !== undefined ? { expanded } : {};
  if (compiled !== undefined) return ok({ project: compiled, warnings, fromCache: false, files, ...kept });
  opts.onGarbage?.();
  const written = parseCache(Buffer.from(text));
  const project = written && restoreFromCache(written, root);
  if (!project) return compileFresh(root, uetDir, hasher, opts, false);
  const changedSince = last && { files: last.file.files, changes: changesSince(last, written) };
  return ok({ project, warnings, fromCache: false, files, ...kept, ...(changedSince ? { changedSince } : {}) });
}

function changesSince(last: ReadCache, written: ReadCache): GraphChanges {
  try {
    return graphChanges(compiledGraphOf(last), compiledGraphOf(written));
  } catch {
    // a workstream's text in the last file does not parse: that file was damaged
    return { kind: 'project', why: 'the last compiled graph could not be read' };
  }
}

/** A cache file's graph as graphChanges compares it; a workstream's tasks are parsed when asked for. */
function compiledGraphOf({ file, texts }: ReadCache): CompiledGraph {
  const { spec, layout } = file;
  const workstreams = new Map(spec.phases.flatMap((phase) => phase.workstreams.map((ws) => [ws.fullId, ws] as const)));
  const text = (fullId: string): string => {
    const ws = workstreams.get(fullId);
    if (ws === undefined) throw new Error(`no workstream '${fullId}' in the compiled-graph cache`);
    return textAt(texts, ws);
  };
  return {
    config: spec.config,
    specFiles: spec.specFiles,
    phases: spec.phases,
    keys: layout.keys,
    rows: layoutRows(layout),
    tasksText: text,
    tasks: (fullId) => tasksFromCache(JSON.parse(text(fullId)) as CachedTask[]),
  };
}

interface Stored {
  readonly text: string;
  readonly warnings: readonly Diagnostic[];
  readonly files: ReadonlyArray<readonly [string, string]>;
  readonly expanded?: readonly ExpandedWorkstream[];
  /** the compiled project, unless it is to be read back from `text` */
  readonly compiled?: CompiledProject;
}

async function compileAndStore(root: string, uetDir: string, hasher: FileHasher, opts: LoadOptions, readBack: boolean): Promise<Result<Stored, Diagnostic[]>> {
  const loaded = await loadSpec(root, opts.keepExpanded === true);
  if (!loaded.ok) return loaded;
  const { spec, warnings, expanded } = loaded.value;
  opts.onGarbage?.();
  // the compiler and graphology load only when the spec changed
  const { compileProject } = await import('./compile.js');
  const compiled = compileProject(spec);
  if (!compiled.ok) return err(compiled.error);
  const digests = await hasher.hashFiles(spec.specFiles);
  const files = spec.specFiles.map((f) => [f, digests.get(f)?.hash ?? ''] as const);
  const { keys } = compiled.value.graph;
  const rows = rowsBytes(compiled.value.graph.toRows());
  const layout: CachedLayout = { keys, rows: rows.toString('base64'), rowsDigest: sha256(rows) };
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const paths = cacheTaskPaths(taskGlobs(spec), (key) => keyIndex.get(key)!);
  const file: GraphCacheJson = { writer: UET_VERSION, format: GRAPH_CACHE_FORMAT, files, warnings, spec: specToCache(spec), layout, paths };
  // the compiler's garbage, and the index's, go before the text is made: at 10,000 tasks the
  // heap peaked at 83 MB here, 73 MB with this (a cold build's peak RSS 138 -> 129 MB)
  opts.onGarbage?.();
  const text = graphCacheText(file);
  try {
    await fs.mkdir(uetDir, { recursive: true });
    await writeFileAtomic(cachePathIn(uetDir), text);
  } catch {
    // Only a speed-up: a build goes on without it.
  }
  return ok({ text, warnings, files, ...(expanded !== undefined ? { expanded } : {}), ...(readBack ? {} : { compiled: compiled.value }) });
}

/** the spec from the YAML, and the expanded workstreams only when asked for (they hold the parsed YAML) */
async function loadSpec(root: string, keepExpanded: boolean): Promise<Result<{ spec: ProjectSpec; warnings: readonly Diagnostic[]; expanded?: readonly ExpandedWorkstream[] }, Diagnostic[]>> {
  // the parser and normaliser load only when the spec changed, like the compiler
  const { loadProject } = await import('../spec/load.js');
  const loaded = await loadProject(root);
  if (!loaded.ok) return err(loaded.error);
  const { spec, warnings, expanded } = loaded.value;
  return ok({ spec, warnings, ...(keepExpanded ? { expanded } : {}) });
}

/**
 * The spec as the cache keeps it. A task's dependsOn (each reference with its source location
 * and what it resolved to) feeds only the compiler, and the cached layout holds the edges it
 * made; without them the file of a 10,000-task project was 4.7 MB instead of 7.4. Gates keep
 * theirs: a gate's run reads them. Tasks are kept as what differs from their workstream's first
 * one (see CachedTask): the tasks of a workstream share most fields (kind, env, cwd, retries,
 * cache, clean, empty patches), and restored they share those values too. At 10,000 tasks the
 * file is 2.9 MB instead of 4.7, loading the project from it takes ~63 ms instead of ~78
 * (median of 6, fresh processes), and it holds ~4 MB less.
 */
function specToCache(spec: ProjectSpec): CachedSpec<string> {
  return {
    ...spec,
    phases: spec.phases.map((phase) => ({
      ...phase,
      workstreams: phase.workstreams.map((ws) => ({ ...ws, tasks: JSON.stringify(tasksToCache(ws.tasks.map((task) => ({ ...task, dependsOn: [] })))), taskCount: ws.tasks.length })),
    })),
  };
}

function tasksToCache(tasks: readonly TaskSpec[]): CachedTask[] {
  const base = tasks[0];
  if (base === undefined) return [];
  const baseFields = base as unknown as Record<string, unknown>;
  const baseKeys = Object.keys(baseFields);
  return tasks.map((task, i) => {
    if (i === 0) return task;
    const fields = task as unknown as Record<string, unknown>;
    const diff: Record<string, unknown> = {};
    // compared in place, not written out: writing every field of every task as JSON to compare
    // them was most of this (~125 ms at 10,000 tasks)
    for (const k in fields) {
      const v = fields[k];
      if (!(k in baseFields) || !sameJson(v, baseFields[k])) diff[k] = v;
    }
    const lacks = baseKeys.filter((k) => !(k in fields));
    if (lacks.length > 0) diff['-'] = lacks;
    return diff;
  });
}

/**
 * True only for two values of a spec that JSON writes the same: the same primitives, keys in
 * the same order. It may answer false for some that JSON writes the same (a key whose value is
 * undefined on one side): such a field is kept in the task's difference, which only makes the
 * cache a little larger.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], other[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function tasksFromCache(cached: readonly CachedTask[]): TaskSpec[] {
  const base = cached[0] as Record<string, unknown> | undefined;
  if (base === undefined) return [];
  return cached.map((c, i) => {
    if (i === 0) return c as unknown as TaskSpec;
    const lacks = c['-'];
    // the common case is one object spread, which V8 copies fast
    if (lacks === undefined) return { ...base, ...c } as unknown as TaskSpec;
    const task: Record<string, unknown> = { ...base, ...c };
    delete task['-'];
    for (const k of lacks) delete task[k];
    return task as unknown as TaskSpec;
  });
}

/**
 * The file's text: the header's line, then each workstream's tasks, in order. JSON writes no
 * line break, so the header is one line.
 */
export function graphCacheText(file: GraphCacheJson): string {
  const texts: string[] = [];
  let at = 0;
  const header: GraphCacheFile<Span> = {
    ...file,
    spec: {
      ...file.spec,
      phases: file.spec.phases.map((phase) => ({
        ...phase,
        workstreams: phase.workstreams.map((ws) => {
          const start = at;
          at += Buffer.byteLength(ws.tasks);
          texts.push(ws.tasks);
          return { ...ws, tasks: [start, at] as const };
        }),
      })),
    },
  };
  return `${JSON.stringify(header)}\n${texts.join('')}`;
}

/** The file's content with every workstream's tasks as text (for tests and tools; a build reads them lazily). */
export function graphCacheJson(bytes: Buffer): GraphCacheJson | undefined {
  const cached = parseCache(bytes);
  if (!cached) return undefined;
  const { file, texts } = cached;
  return { ...file, spec: { ...file.spec, phases: file.spec.phases.map((phase) => ({ ...phase, workstreams: phase.workstreams.map((ws) => ({ ...ws, tasks: textAt(texts, ws) })) })) } };
}

interface ReadCache {
  readonly file: GraphCacheFile<Span>;
  /** the tasks' texts: the file after the header's line */
  readonly texts: Buffer;
}

/** The project a cache file holds, rooted at `root`; undefined when its parts do not fit together. */
function restoreFromCache({ file, texts }: ReadCache, root: string): CompiledProject | undefined {
  const taskCounts = new Map<string, number>();
  const spec: ProjectSpec = {
    ...file.spec,
    root,
    phases: file.spec.phases.map((phase) => ({
      ...phase,
      workstreams: phase.workstreams.map((cached) => {
        taskCounts.set(cached.fullId, cached.taskCount);
        return withLazyTasks(cached, texts);
      }),
    })),
  };
  const { keys } = file.layout;
  // rows whose bytes are not the ones written (a damaged file) are not walked: the project is compiled again
  const rows = layoutRows(file.layout);
  return rows && restoreCompiled(spec, keys, rows, taskCounts, cachedTaskPaths(file.paths, keys));
}

/** the layout's rows; undefined when their bytes are not the ones written */
function layoutRows(layout: CachedLayout): GraphRows | undefined {
  const bytes = Buffer.from(layout.rows, 'base64');
  return sha256(bytes) === layout.rowsDigest ? rowsFromBytes(bytes, layout.keys.length) : undefined;
}

/** 'uetr', first in the rows' bytes: read in the other byte order, it is not */
const ROWS_MAGIC = 0x75657472;

/**
 * The rows as bytes: the magic number, the node count n and the edge count m, each direction's
 * n + 1 offsets and m neighbours (32 bits each, in this machine's byte order: the magic number
 * tells a file from a machine of the other order), then each direction's m reasons (8 bits).
 */
export function rowsBytes(rows: GraphRows): Buffer {
  const n = rows.ins.start.length - 1;
  const m = rows.ins.list.length;
  const words = new Uint32Array(3 + 2 * (n + 1) + 2 * m);
  words.set([ROWS_MAGIC, n, m]);
  let at = 3;
  for (const part of [rows.ins.start, rows.outs.start, rows.ins.list, rows.outs.list]) {
    words.set(part, at);
    at += part.length;
  }
  return Buffer.concat([Buffer.from(words.buffer, words.byteOffset, words.byteLength), rows.ins.why, rows.outs.why]);
}

/** The rows rowsBytes wrote, for n nodes, as views on `bytes` (copied when they do not start on a 4-byte boundary); undefined when they are not. */
export function rowsFromBytes(bytes: Buffer, n: number): GraphRows | undefined {
  if (bytes.length < 12) return undefined;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
  const head = new Uint32Array(aligned.buffer, aligned.byteOffset, 3);
  const m = head[2]!;
  if (head[0] !== ROWS_MAGIC || head[1] !== n || aligned.length !== 4 * (3 + 2 * (n + 1) + 2 * m) + 2 * m) return undefined;
  let at = aligned.byteOffset + 12;
  const words = (count: number): Uint32Array => {
    const view = new Uint32Array(aligned.buffer, at, count);
    at += 4 * count;
    return view;
  };
  const inStart = words(n + 1);
  const outStart = words(n + 1);
  const inList = words(m);
  const outList = words(m);
  const inWhy = new Uint8Array(aligned.buffer, at, m);
  const outWhy = new Uint8Array(aligned.buffer, at + m, m);
  return { ins: { start: inStart, list: inList, why: inWhy }, outs: { start: outStart, list: outList, why: outWhy } };
}

/**
 * The workstream, its `tasks` parsed from their text when first read, then kept in place of the
 * text (a cold build of 10,000 tasks reads them all: holding the texts as well cost ~3 MB of
 * live heap, and more of peak RSS). A text that does not parse, or does not hold taskCount
 * tasks, can only come from a damaged file: reading it throws, saying so.
 */
function withLazyTasks(cached: CachedWorkstream<Span>, texts: Buffer): WorkstreamSpec {
  const { tasks: _span, taskCount, ...ws } = cached;
  return Object.defineProperty(ws, 'tasks', {
    enumerable: true,
    configurable: true,
    get: (): readonly TaskSpec[] => {
      const parsed = JSON.parse(textAt(texts, cached)) as unknown;
      if (!Array.isArray(parsed) || parsed.length !== taskCount) throw new Error(`the compiled-graph cache holds a damaged workstream '${ws.fullId}': delete .uet/graph.json and build again`);
      const tasks = tasksFromCache(parsed as CachedTask[]);
      // the getter, and the text it holds, go
      Object.defineProperty(ws, 'tasks', { value: tasks, enumerable: true });
      return tasks;
    },
  }) as unknown as WorkstreamSpec;
}

/** a workstream's tasks' text; a span that does not fit the file can only come from a damaged one */
function textAt(texts: Buffer, ws: CachedWorkstream<Span>): string {
  const [start, end] = Array.isArray(ws.tasks) ? ws.tasks : [NaN, NaN];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > texts.length) throw new Error(`the compiled-graph cache holds a damaged workstream '${ws.fullId}': delete .uet/graph.json and build again`);
  return texts.toString('utf8', start, end);
}

function readCache(cachePath: string): ReadCache | undefined {
  try {
    // one read(2) of the whole file: the promise-based read took it 512 KB at a time, a
    // round trip to the thread pool each (a 10,000-task project's file is 3.5 MB)
    return parseCache(readFileSync(cachePath));
  } catch {
    return undefined;
  }
}

function parseCache(bytes: Buffer): ReadCache | undefined {
  try {
    const newline = bytes.indexOf(0x0a);
    if (newline < 0) return undefined;
    const file = JSON.parse(bytes.toString('utf8', 0, newline)) as GraphCacheFile<Span>;
    // a file from another version or format, or from before the layout was cached, is rebuilt
    return file.writer === UET_VERSION &&
      file.format === GRAPH_CACHE_FORMAT &&
      Array.isArray(file.layout?.keys) &&
      typeof file.layout.rows === 'string' &&
      typeof file.layout.rowsDigest === 'string' &&
      validCachedTaskPaths(file.paths)
      ? { file, texts: bytes.subarray(newline + 1) }
      : undefined;
  } catch {
    return undefined;
  }
}

function stillValid(root: string, cached: GraphCacheFile<Span>, hasher: FileHasher): Promise<boolean> {
  return sameSpecFiles(root, cached.spec.config, cached.files, hasher);
}

/**
 * Would loading the project now give `loaded` again: are its spec files the same files, with the
 * same contents? A process that keeps a loaded project between builds (`uet serve`) asks this
 * before each one.
 */
export function stillCurrent(root: string, loaded: LoadedGraph, hasher: FileHasher): Promise<boolean> {
  return sameSpecFiles(root, loaded.project.spec.config, loaded.files, hasher);
}

async function sameSpecFiles(root: string, config: ProjectSpec['config'], files: LoadedGraph['files'], hasher: FileHasher): Promise<boolean> {
  const now = await listSpecFiles(root, config);
  if (now.length !== files.length || now.some((f, i) => files[i]![0] !== f)) return false;
  const digests = await hasher.hashFiles(now);
  return files.every(([f, hash]) => digests.get(f)?.hash === hash);
}
