/**
 * Raw (schema-checked) spec data -> the model: defaults applied, tools expanded, env merged,
 * globs normalised, ids checked for duplicates. References are collected here and resolved
 * in resolve.ts once every phase is known.
 */
import { basename } from 'node:path';
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import { byteCompare } from '../util/byte-compare.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { errorAt } from './diagnostic.js';
import { parseDuration, parseSize } from './durations.js';
import type {
  CleanMode,
  ConfigSpec,
  DependencyRef,
  EnvSpec,
  FilesScope,
  GateSpec,
  PhaseSpec,
  TaskKind,
  TaskSpec,
  ToolSpec,
  WorkstreamSpec,
} from './model.js';
import { configPolicy, narrowPolicy, asRawPolicy, policyWeakenings } from '../patch/policy.js';
import type { PatchPolicy } from '../patch/policy.js';
import { normaliseRootRelative, shellQuote } from './paths.js';
import type { LocatedPhase, LocatedWorkstream, RawConfig, RawEnv, RawScope, RawTask, StringOrList } from './raw.js';
import { asList } from './raw.js';
import { didYouMean } from './suggest.js';
import type { Locator, Path, SpecSource } from './yaml-source.js';

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** a reference as written, waiting for resolution */
export interface PendingRef {
  readonly raw: string;
  readonly loc: SourceLoc;
}

export interface TaskB {
  readonly spec: Mutable<TaskSpec>;
  readonly deps: PendingRef[];
  readonly resolved: DependencyRef[];
}

export interface WsB {
  readonly spec: Mutable<WorkstreamSpec>;
  readonly idLoc: SourceLoc;
  readonly deps: PendingRef[];
  readonly resolved: DependencyRef[];
  readonly tasks: TaskB[];
  readonly taskById: Map<string, TaskB>;
}

export interface GateB {
  readonly spec: Mutable<GateSpec>;
  readonly idLoc: SourceLoc;
  readonly deps: PendingRef[];
  readonly resolved: DependencyRef[];
  /** `{kind}` or refs/globs; undefined when the gate says no needs */
  readonly needs: { kind: TaskKind; loc: SourceLoc } | PendingRef[] | undefined;
  readonly members: string[];
}

export interface PhaseB {
  readonly spec: Mutable<PhaseSpec>;
  readonly idLoc: SourceLoc;
  readonly deps: PendingRef[];
  readonly resolved: DependencyRef[];
  readonly workstreams: WsB[];
  readonly wsById: Map<string, WsB>;
  readonly gates: GateB[];
  readonly gateById: Map<string, GateB>;
}

interface Out {
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
}

const fmt = (l: SourceLoc): string => `${l.file}:${l.line}:${l.col}`;

// --------------------------------------------------------------------------------- config

export function normaliseConfig(root: string, src: SpecSource, out: Out): ConfigSpec {
  const c = src.data as RawConfig;
  const globs = (key: 'phases' | 'templates', dflt: readonly string[]): string[] =>
    c[key] === undefined ? [...dflt] : checkGlobs(asList(c[key]), src, [key], out, `config ${key}`, typeof c[key] === 'string');
  const tools: Record<string, ToolSpec> = {};
  for (const [name, t] of Object.entries(c.tools ?? {})) {
    const timeout = t.timeout === undefined ? undefined : parseDuration(t.timeout);
    tools[name] = {
      name,
      run: t.run,
      ...(t.version !== undefined ? { version: t.version } : {}),
      ...(t.produces !== undefined ? { produces: t.produces } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      loc: src.loc(['tools', name], 'key'),
    };
  }
  const cache = c.cache ?? {};
  const maxSize = cache.max_size === undefined ? undefined : parseSize(cache.max_size);
  const maxAge = cache.max_age === undefined ? undefined : parseDuration(cache.max_age);
  const r = cache.remote;
  const remoteTimeout = r?.timeout === undefined ? undefined : parseDuration(r.timeout);
  return {
    version: 1,
    project: c.project ?? basename(root),
    phases: globs('phases', CONFIG_DEFAULTS.phases),
    templates: globs('templates', CONFIG_DEFAULTS.templates),
    default: asList(c.default),
    concurrency: c.concurrency ?? 'auto',
    shell: c.shell ?? CONFIG_DEFAULTS.shell,
    env: normaliseEnv(c.env),
    cache: {
      dir: cache.dir ?? CONFIG_DEFAULTS.cacheDir,
      ...(maxSize !== undefined ? { maxSize } : {}),
      ...(maxAge !== undefined ? { maxAge } : {}),
      ...(r
        ? {
            remote: {
              url: r.url ?? '',
              read: r.read ?? CONFIG_DEFAULTS.remote.read,
              write: r.write ?? CONFIG_DEFAULTS.remote.write,
              timeout: remoteTimeout ?? CONFIG_DEFAULTS.remote.timeout,
            },
          }
        : {}),
    },
    tools,
    ...(c.patch_policy ? { patchPolicy: c.patch_policy } : {}),
    ...(c.circuit_breaker ? { circuitBreaker: c.circuit_breaker } : {}),
    ...(c.watch ? { watch: c.watch } : {}),
  };
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort(byteCompare);
}

function normaliseEnv(e: RawEnv | undefined): EnvSpec {
  const set: Record<string, string> = {};
  for (const [k, v] of Object.entries(e?.set ?? {})) set[k] = String(v);
  const hash = sortedUnique(e?.hash ?? []);
  return { pass: sortedUnique((e?.pass ?? []).filter((n) => !hash.includes(n))), hash, set };
}

/** the config's env with a task's added: names unioned (hash wins over pass), `set` overridden */
export function mergeEnv(base: EnvSpec, own: RawEnv | undefined): EnvSpec {
  if (!own) return base;
  const hash = sortedUnique([...base.hash, ...(own.hash ?? [])]);
  const hashed = new Set(hash);
  const pass = sortedUnique([...base.pass, ...(own.pass ?? [])].filter((n) => !hashed.has(n)));
  const set: Record<string, string> = { ...base.set };
  for (const [k, v] of Object.entries(own.set ?? {})) set[k] = String(v);
  return { pass, hash, set };
}

/**
 * Normalise root-relative globs, reporting E_GLOB_OUTSIDE_ROOT for any that is absolute or
 * leaves the root. `single`: the YAML value is one string, not a list (for locations).
 */
function checkGlobs(globs: readonly string[], src: Locator, path: Path, out: Out, what: string, single = false): string[] {
  const res: string[] = [];
  globs.forEach((g, i) => {
    const n = normaliseRootRelative(g);
    if (n === undefined) {
      out.errors.push(
        errorAt(
          'E_GLOB_OUTSIDE_ROOT',
          `${what}: '${g}' is outside the project root`,
          src.loc(single ? path : [...path, i]),
          'globs and paths are relative to the project root (the folder of uet.config.yaml) and may not leave it: no leading /, no ../ past the root',
        ),
      );
    } else res.push(n);
  });
  return res;
}

function listAt(v: StringOrList | undefined, src: Locator, path: Path, out: Out, what: string): string[] {
  return checkGlobs(asList(v), src, path, out, what, typeof v === 'string');
}

function refsAt(v: StringOrList | undefined, src: Locator, path: Path): PendingRef[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [{ raw: v, loc: src.loc(path) }];
  return v.map((raw, i) => ({ raw, loc: src.loc([...path, i]) }));
}

const EMPTY_SCOPE: FilesScope = { read: [], write: [], create: [], forbidden: [] };

type PartialScope = { -readonly [K in keyof FilesScope]?: string[] };

function scopeAt(s: RawScope | undefined, src: Locator, path: Path, out: Out, what: string): PartialScope | undefined {
  if (s === undefined) return undefined;
  if (Array.isArray(s)) return { write: checkGlobs(s as readonly string[], src, path, out, `${what} files_scope`) };
  const o = s as Exclude<RawScope, readonly string[]>;
  const res: PartialScope = {};
  for (const k of ['read', 'write', 'create', 'forbidden'] as const) {
    if (o[k] !== undefined) res[k] = listAt(o[k], src, [...path, k], out, `${what} files_scope.${k}`);
  }
  return res;
}

// --------------------------------------------------------------------------------- phases

export interface BuildContext {
  readonly config: ConfigSpec;
  readonly out: Out;
}

/** Build one phase (its workstreams already expanded). Duplicate ids inside it are reported. */
export function buildPhase(lp: LocatedPhase, workstreams: readonly LocatedWorkstream[], ctx: BuildContext): PhaseB | undefined {
  const { out } = ctx;
  const { src, data } = lp;
  const id = data.id ?? lp.stem;
  const idLoc = data.id !== undefined ? src.loc(['id']) : src.loc([]);
  if (data.id === undefined && !ID_RE.test(id)) {
    out.errors.push(
      errorAt('E_SCHEMA', `phase file name '${lp.stem}' is not a valid phase id, and the file has no id:`, idLoc, 'add `id: <phase-id>` (letters, digits, ., _, -) or rename the file'),
    );
    return undefined;
  }
  const phaseScope = scopeAt(data.files_scope, src, ['files_scope'], out, `phase '${id}'`);
  const cfgPolicy = configPolicy(ctx.config.patchPolicy);
  checkPolicy(cfgPolicy, data.patch_policy, 'config', src, ['patch_policy'], out);
  const phasePolicy = narrowPolicy(cfgPolicy, asRawPolicy(data.patch_policy));
  const filesScope: FilesScope = { ...EMPTY_SCOPE, ...phaseScope };
  const wsSpecs: WorkstreamSpec[] = [];
  const gateSpecs: GateSpec[] = [];
  const spec: Mutable<PhaseSpec> = {
    id,
    ...(data.name !== undefined ? { name: data.name } : {}),
    file: src.file,
    dependsOn: [],
    ...(data.max_parallel !== undefined ? { maxParallel: data.max_parallel } : {}),
    filesScope,
    ...(data.patch_policy !== undefined ? { patchPolicy: data.patch_policy } : {}),
    gates: gateSpecs,
    workstreams: wsSpecs,
    loc: src.loc([]),
  };
  const resolved: DependencyRef[] = [];
  spec.dependsOn = resolved;
  const pb: PhaseB = {
    spec,
    idLoc,
    deps: refsAt(data.depends_on, src, ['depends_on']),
    resolved,
    workstreams: [],
    wsById: new Map(),
    gates: [],
    gateById: new Map(),
  };

  for (const lw of workstreams) {
    checkPolicy(phasePolicy, lw.data.patch_policy, `phase '${id}'`, lw.src, [...lw.path, 'patch_policy'], out);
    const wb = buildWorkstream(lw, pb, ctx);
    if (!wb) continue;
    const prev = pb.wsById.get(wb.spec.id);
    if (prev) {
      out.errors.push(
        errorAt(
          'E_DUPLICATE_ID',
          `workstream id '${wb.spec.id}' is used twice in phase '${id}' (first at ${fmt(prev.idLoc)})`,
          wb.idLoc,
          'workstream ids must be unique in their phase (inline and phases/<phase>/*.yaml files together): rename one',
        ),
      );
      continue;
    }
    pb.wsById.set(wb.spec.id, wb);
    pb.workstreams.push(wb);
    wsSpecs.push(wb.spec);
  }

  (data.gates ?? []).forEach((g, i) => {
    const gpath = ['gates', i];
    const gIdLoc = src.loc([...gpath, 'id']);
    const prev = pb.gateById.get(g.id);
    if (prev) {
      out.errors.push(
        errorAt('E_DUPLICATE_ID', `gate id '${g.id}' is used twice in phase '${id}' (first at ${fmt(prev.idLoc)})`, gIdLoc, 'gate ids must be unique in their phase: rename one'),
      );
      return;
    }
    const ws = pb.wsById.get(g.id);
    if (ws) {
      out.errors.push(
        errorAt(
          'E_DUPLICATE_ID',
          `gate id '${g.id}' is also the id of a workstream of phase '${id}' (at ${fmt(ws.idLoc)})`,
          gIdLoc,
          "a gate and a workstream of one phase cannot share an id ('phase/id' would name both): rename one (gates are usually GATE_*)",
        ),
      );
      return;
    }
    let needs: GateB['needs'];
    if (g.needs !== undefined) {
      if (typeof g.needs === 'object' && !Array.isArray(g.needs)) {
        needs = { kind: (g.needs as { kind: TaskKind }).kind, loc: src.loc([...gpath, 'needs', 'kind']) };
      } else needs = refsAt(g.needs as StringOrList, src, [...gpath, 'needs']);
    }
    const members: string[] = [];
    const gResolved: DependencyRef[] = [];
    const gspec: Mutable<GateSpec> = {
      fullId: `${id}/${g.id}`,
      id: g.id,
      phase: id,
      type: g.type ?? 'custom',
      members,
      ...(g.run !== undefined ? { run: g.run } : {}),
      blocking: g.blocking ?? true,
      dependsOn: gResolved,
      loc: src.loc(gpath),
    };
    const gb: GateB = { spec: gspec, idLoc: gIdLoc, deps: refsAt(g.depends_on, src, [...gpath, 'depends_on']), resolved: gResolved, needs, members };
    pb.gateById.set(g.id, gb);
    pb.gates.push(gb);
    gateSpecs.push(gspec);
  });
  return pb;
}

/** Policies only tighten going down (config -> phase -> workstream): a looser value is an error at its line. */
function checkPolicy(upper: PatchPolicy, lower: unknown, upperName: string, src: Locator, path: Path, out: Out): void {
  if (lower === undefined) return;
  for (const w of policyWeakenings(upper, asRawPolicy(lower), upperName)) {
    out.errors.push(
      errorAt('E_POLICY_WEAKENED', `patch_policy ${w.detail}`, src.loc([...path, ...w.key]), 'a phase may only tighten the config’s patch_policy, a workstream only its phase’s: lower the limit or remove it'),
    );
  }
}

const WS_MODELLED = new Set(['id', 'name', 'depends_on', 'files_scope', 'conflict_group', 'parallel_ok', 'order', 'isolation', 'circuit_breaker', 'tasks']);

function buildWorkstream(lw: LocatedWorkstream, pb: PhaseB, ctx: BuildContext): WsB | undefined {
  const { out } = ctx;
  const { src, data, path } = lw;
  const phase = pb.spec.id;
  const id = data.id ?? lw.defaultId;
  const idLoc = data.id !== undefined ? src.loc([...path, 'id']) : src.loc(path);
  // (an id written in the file passed the schema; with matrix: it may hold {{placeholders}})
  if (id === undefined || (data.id === undefined && !ID_RE.test(id))) {
    out.errors.push(
      errorAt(
        'E_SCHEMA',
        data.id === undefined ? `workstream file name '${lw.defaultId ?? ''}' is not a valid workstream id, and the file has no id:` : `workstream id '${id}' is not a valid id`,
        idLoc,
        'add `id: <workstream-id>` (letters, digits, ., _, -) or rename the file',
      ),
    );
    return undefined;
  }
  const fullId = `${phase}/${id}`;
  const own = scopeAt(data.files_scope, src, [...path, 'files_scope'], out, `workstream '${fullId}'`);
  const ps = pb.spec.filesScope;
  const filesScope: FilesScope = {
    read: own?.read ?? [...ps.read],
    write: own?.write ?? [...ps.write],
    create: own?.create ?? [...ps.create],
    forbidden: sortedUnique([...ps.forbidden, ...(own?.forbidden ?? [])]),
  };
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!WS_MODELLED.has(k)) extra[k] = v;
  const taskSpecs: TaskSpec[] = [];
  const resolved: DependencyRef[] = [];
  const spec: Mutable<WorkstreamSpec> = {
    fullId,
    id,
    phase,
    ...(data.name !== undefined ? { name: data.name } : {}),
    dependsOn: resolved,
    filesScope,
    declaresScope: data.files_scope !== undefined,
    ...(data.conflict_group !== undefined ? { conflictGroup: data.conflict_group } : {}),
    parallelOk: data.parallel_ok ?? true,
    order: data.order ?? 'edit-static-runtime',
    isolation: data.isolation ?? 'none',
    ...(data.circuit_breaker !== undefined ? { circuitBreaker: data.circuit_breaker } : {}),
    extra,
    tasks: taskSpecs,
    loc: src.loc(path),
  };
  const wb: WsB = { spec, idLoc, deps: refsAt(data.depends_on, src, [...path, 'depends_on']), resolved, tasks: [], taskById: new Map() };
  (data.tasks ?? []).forEach((t, i) => {
    const tb = buildTask(t, src, [...path, 'tasks', i], wb, ctx);
    if (!tb) return;
    const prev = wb.taskById.get(t.id);
    if (prev) {
      out.errors.push(
        errorAt(
          'E_DUPLICATE_ID',
          `task id '${t.id}' is used twice in workstream '${fullId}' (first at ${fmt(prev.spec.loc)})`,
          src.loc([...path, 'tasks', i, 'id']),
          'task ids must be unique in their workstream: rename one',
        ),
      );
      return;
    }
    wb.taskById.set(t.id, tb);
    wb.tasks.push(tb);
    taskSpecs.push(tb.spec);
  });
  return wb;
}

function buildTask(t: RawTask, src: Locator, path: Path, wb: WsB, ctx: BuildContext): TaskB | undefined {
  const { out, config } = ctx;
  const fullId = `${wb.spec.fullId}/${t.id}`;
  const label = `task '${wb.spec.id}/${t.id}'`;
  const loc = src.loc(path);
  let ok = true;

  if (t.run !== undefined && t.tool !== undefined) {
    out.errors.push(
      errorAt('E_SCHEMA', `${label} has both run: and tool:`, src.loc([...path, 'tool'], 'key'), 'a task runs one command: keep run: (a shell command) or tool: (a config tool, with args:)'),
    );
    ok = false;
  }
  const patches = listAt(t.patches, src, [...path, 'patches'], out, `${label} patches`);
  if (t.run === undefined && t.tool === undefined && (t.patches === undefined || asList(t.patches).length === 0)) {
    out.errors.push(
      errorAt('E_NO_ACTION', `${label} has neither run:, tool: nor patches:`, loc, 'give it a shell command (run:), a config tool (tool:) or patches to apply (patches:)'),
    );
    ok = false;
  }
  let cwd = '';
  if (t.cwd !== undefined) {
    const n = normaliseRootRelative(t.cwd);
    if (n === undefined) {
      out.errors.push(
        errorAt('E_GLOB_OUTSIDE_ROOT', `${label}: cwd '${t.cwd}' is outside the project root`, src.loc([...path, 'cwd']), 'cwd is relative to the project root and may not leave it'),
      );
      ok = false;
    } else cwd = n;
  }
  const tool = t.tool !== undefined ? config.tools[t.tool] : undefined;
  if (t.tool !== undefined && !tool) {
    out.errors.push(unknownTool(label, 'tool', t.tool, src.loc([...path, 'tool']), config));
    ok = false;
  }
  if (t.fix !== undefined && !config.tools[t.fix]) {
    out.errors.push(unknownTool(label, 'fix', t.fix, src.loc([...path, 'fix']), config));
    ok = false;
  }
  const inputs = t.inputs === undefined ? undefined : listAt(t.inputs, src, [...path, 'inputs'], out, `${label} inputs`);
  const outputs = t.outputs === undefined ? undefined : listAt(t.outputs, src, [...path, 'outputs'], out, `${label} outputs`);

  let run: string | undefined;
  if (tool) run = tool.run.replaceAll('{cwd}', shellQuote(cwd === '' ? '.' : cwd)).replaceAll('{task}', fullId);
  else run = t.run;
  if (run !== undefined && t.args !== undefined) {
    const args = typeof t.args === 'string' ? t.args : t.args.map((a) => shellQuote(String(a))).join(' ');
    if (args !== '') run = `${run} ${args}`;
  }
  const timeout = t.timeout !== undefined ? parseDuration(t.timeout) : tool?.timeout;
  if (!ok) return undefined;
  const resolved: DependencyRef[] = [];
  const spec: Mutable<TaskSpec> = {
    fullId,
    id: t.id,
    phase: wb.spec.phase,
    workstream: wb.spec.id,
    kind: t.kind ?? 'build',
    ...(run !== undefined ? { run } : {}),
    ...(t.tool !== undefined ? { tool: t.tool } : {}),
    patches,
    ...(inputs !== undefined ? { inputs } : {}),
    ...(outputs !== undefined ? { outputs } : {}),
    dependsOn: resolved,
    env: mergeEnv(config.env, t.env),
    cwd,
    retries: t.retries ?? 0,
    retryDelay: (t.retry_delay === undefined ? undefined : parseDuration(t.retry_delay)) ?? 1000,
    ...(timeout !== undefined ? { timeout } : {}),
    cache: t.cache ?? true,
    clean: cleanMode(t.clean),
    ...(t.fix !== undefined ? { fix: t.fix } : {}),
    loc,
  };
  return { spec, deps: refsAt(t.depends_on, src, [...path, 'depends_on']), resolved };
}

function cleanMode(v: RawTask['clean']): CleanMode {
  if (v === undefined || v === true || v === 'true') return 'true';
  if (v === false || v === 'false') return 'false';
  return 'if-file-deleted';
}

function unknownTool(label: string, key: 'tool' | 'fix', name: string, loc: SourceLoc, config: ConfigSpec): Diagnostic {
  const names = Object.keys(config.tools);
  return errorAt(
    'E_UNKNOWN_TOOL',
    `${label}: ${key}: '${name}' names no tool of the config${didYouMean(name, names)}`,
    loc,
    names.length > 0 ? `tools defined in uet.config.yaml: ${names.sort(byteCompare).join(', ')}` : 'define it under tools: in uet.config.yaml (e.g. tools: { name: { run: "..." } })',
  );
}
