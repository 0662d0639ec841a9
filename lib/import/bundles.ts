/**
 * The workstream bundles of the system uet replaces (`ws-*.json`: one bundle, or a list of them)
 * turned into uet workstreams of one phase. Pure: JSON in, YAML texts out. What has no uet
 * meaning (prose acceptance tests, the bundle's `tasks` prose, metadata) is kept as comments in
 * the workstream file, never dropped silently.
 */
import YAML from 'yaml';
import { globsOverlap } from '../spec/glob-overlap.js';
import { ID_RE } from '../spec/normalise.js';

export interface ImportedWorkstream {
  readonly id: string;
  /** the YAML text of phases/<phase>/<id>.yaml, comments first */
  readonly text: string;
  /** what could not be mapped (also in the text, as comments) */
  readonly notes: readonly string[];
}

export interface ImportResult {
  readonly workstreams: readonly ImportedWorkstream[];
  /** problems with the input itself (not a bundle, no id) */
  readonly errors: readonly string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const strings = (v: Json | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/** An acceptance test or step that is a shell command rather than prose. */
const COMMAND_RE = /^(pytest|python3?|node|npm|npx|pnpm|yarn|make|go|cargo|sh|bash|ruff|mypy|eslint|tsc|uv|poetry|pwsh|git|ls|test|deno|bun|java|mvn|gradle|dotnet)(\s|$)/;

/** A task or workstream id from free text. */
function slug(s: string, fallback: string): string {
  const v = s
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return ID_RE.test(v) ? v : fallback;
}

/** Bundles found in one parsed file: a bundle, a list of bundles, or `{ workstreams: [...] }`. */
export function bundlesOf(data: unknown): Obj[] {
  if (Array.isArray(data)) return data.filter(isObj);
  if (isObj(data) && Array.isArray(data['workstreams'])) return (data['workstreams'] as Json[]).filter(isObj);
  return isObj(data) ? [data] : [];
}

const MAPPED = new Set(['id', 'workstream_id', 'title', 'objective', 'files_scope', 'file_scope', 'files_create', 'depends_on', 'acceptance_tests', 'tool', 'circuit_breaker', 'tasks', 'execution_steps', 'pre_flight_checks']);

export function importBundles(bundles: readonly Obj[]): ImportResult {
  const errors: string[] = [];
  const drafts: Array<{ id: string; ws: Record<string, unknown>; notes: string[]; writes: string[]; deps: string[] }> = [];
  const ids = new Set<string>();
  for (const b of bundles) {
    const rawId = typeof b['id'] === 'string' ? b['id'] : typeof b['workstream_id'] === 'string' ? b['workstream_id'] : undefined;
    if (rawId === undefined) {
      errors.push(`a bundle without an id (keys: ${Object.keys(b).slice(0, 6).join(', ')})`);
      continue;
    }
    const id = ID_RE.test(rawId) ? rawId : slug(rawId, `ws-${drafts.length + 1}`);
    if (ids.has(id)) {
      errors.push(`two bundles with the id '${id}'`);
      continue;
    }
    ids.add(id);
    drafts.push(convert(b, id, rawId));
  }
  // Dependencies on bundles that were not imported cannot be kept as references.
  for (const d of drafts) {
    const kept = d.deps.filter((x) => ids.has(x));
    for (const x of d.deps) if (!ids.has(x)) d.notes.push(`depends_on '${x}': not among the imported bundles (add it, or depend on its phase)`);
    if (kept.length > 0) d.ws['depends_on'] = kept;
  }
  // Two workstreams that may run at once and write the same files would be E_SCOPE_CONFLICT:
  // the original ran them one after another, so they share a conflict group.
  const reach = reachability(drafts);
  for (let i = 0; i < drafts.length; i++) {
    for (let j = i + 1; j < drafts.length; j++) {
      const a = drafts[i]!;
      const b = drafts[j]!;
      if (reach.get(a.id)!.has(b.id) || reach.get(b.id)!.has(a.id)) continue;
      const clash = a.writes.find((x) => b.writes.some((y) => globsOverlap(x, y)));
      if (clash === undefined) continue;
      a.ws['conflict_group'] = 'imported-shared-files';
      b.ws['conflict_group'] = 'imported-shared-files';
      a.notes.push(`conflict_group added: writes '${clash}' like '${b.id}', and neither depends on the other`);
    }
  }
  return { workstreams: drafts.map((d) => ({ id: d.id, notes: d.notes, text: render(d.ws, d.notes) })), errors };
}

function reachability(drafts: ReadonlyArray<{ id: string; ws: Record<string, unknown> }>): Map<string, Set<string>> {
  const deps = new Map(drafts.map((d) => [d.id, (d.ws['depends_on'] as string[] | undefined) ?? []]));
  const out = new Map<string, Set<string>>();
  const visit = (id: string, seen: Set<string>): void => {
    for (const x of deps.get(id) ?? []) {
      if (seen.has(x)) continue;
      seen.add(x);
      visit(x, seen);
    }
  };
  for (const d of drafts) {
    const seen = new Set<string>();
    visit(d.id, seen);
    out.set(d.id, seen);
  }
  return out;
}

function convert(b: Obj, id: string, rawId: string): { id: string; ws: Record<string, unknown>; notes: string[]; writes: string[]; deps: string[] } {
  const notes: string[] = [];
  if (rawId !== id) notes.push(`id '${rawId}' is not a uet id: imported as '${id}'`);
  const ws: Record<string, unknown> = { id };
  const name = typeof b['title'] === 'string' ? b['title'] : isObj(b['metadata']) && typeof b['metadata']['description'] === 'string' ? b['metadata']['description'] : undefined;
  if (name !== undefined) ws['name'] = name;
  if (typeof b['objective'] === 'string') ws['description'] = b['objective'];

  // files_scope: a list (the files it modifies) or { read_only, modify, create, forbidden_paths }; files_create: new files.
  const scope: Record<string, string[]> = {};
  const rawScope = b['files_scope'] ?? b['file_scope'];
  if (isObj(rawScope)) {
    const pick = (keys: string[]): string[] => keys.flatMap((k) => strings(rawScope[k]));
    const read = pick(['read_only', 'read']);
    const write = pick(['modify', 'write']);
    const create = pick(['create']);
    const forbidden = pick(['forbidden_paths', 'forbidden']);
    if (read.length) scope['read'] = read;
    if (write.length) scope['write'] = write;
    if (create.length) scope['create'] = create;
    if (forbidden.length) scope['forbidden'] = forbidden;
  } else if (rawScope !== undefined) {
    scope['write'] = strings(rawScope);
  }
  const create = strings(b['files_create']);
  if (create.length) scope['create'] = [...new Set([...(scope['create'] ?? []), ...create])];
  // A new file is written too: the original's files_scope listed files it created as well.
  if (Object.keys(scope).length > 0) ws['files_scope'] = scope;
  const writes = [...(scope['write'] ?? []), ...(scope['create'] ?? [])];

  const tasks: Array<Record<string, unknown>> = [];
  const taskIds = new Set<string>();
  const addTask = (base: string, kind: 'static' | 'runtime' | 'build', run: string): void => {
    if (/\bTest-Path\b|\$env:|^\s*if\s*\(-not\b/.test(run)) notes.push(`task '${base}' looks like PowerShell: it runs under the config's shell (default /bin/sh); set shell: pwsh or rewrite it`);
    let tid = slug(base, `${kind}-${tasks.length + 1}`);
    for (let n = 2; taskIds.has(tid); n++) tid = `${slug(base, kind)}-${n}`;
    taskIds.add(tid);
    tasks.push({ id: tid, kind, run });
  };
  const steps = (key: string, kind: 'static' | 'runtime' | 'build', what: string): void => {
    const v = b[key];
    if (!Array.isArray(v)) return;
    v.forEach((s, i) => {
      if (isObj(s) && typeof s['command'] === 'string') addTask(typeof s['id'] === 'string' ? s['id'] : `${what}-${i + 1}`, kind, s['command']);
      else if (typeof s === 'string' && COMMAND_RE.test(s.trim())) addTask(`${what}-${i + 1}`, kind, s.trim());
      else notes.push(`${key.replace(/_/g, ' ')} (prose, not a command): ${typeof s === 'string' ? s : isObj(s) && typeof s['description'] === 'string' ? s['description'] : JSON.stringify(s)}`);
    });
  };
  steps('pre_flight_checks', 'static', 'preflight');
  steps('execution_steps', 'build', 'step');
  steps('acceptance_tests', 'runtime', 'acceptance');
  for (const t of strings(b['tasks'])) notes.push(`task (prose: work for the tool, not a command): ${t}`);
  if (Array.isArray(b['tasks']) && b['tasks'].some(isObj)) notes.push(`tasks given as references: ${JSON.stringify(b['tasks'])}`);
  if (tasks.length > 0) ws['tasks'] = tasks;

  if (typeof b['tool'] === 'string') {
    notes.push(
      `tool: ${b['tool']} — define it under tools: in uet.config.yaml (with produces: patch, answering with a diff) and set fix: ${b['tool']} on the tasks it should repair`,
    );
  }
  const cb = b['circuit_breaker'];
  if (isObj(cb)) {
    const mapped: Record<string, number> = {};
    if (typeof cb['max_attempts'] === 'number' && cb['max_attempts'] >= 1) mapped['max_attempts'] = cb['max_attempts'];
    if (typeof cb['max_fix_attempts'] === 'number' && cb['max_fix_attempts'] >= 0) mapped['max_fix_attempts'] = cb['max_fix_attempts'];
    if (Object.keys(mapped).length > 0) ws['circuit_breaker'] = mapped;
    if (typeof cb['oscillation_threshold'] === 'number') ws['patch_policy'] = { oscillation: { threshold: cb['oscillation_threshold'] } };
    for (const [k, v] of Object.entries(cb)) {
      if (k in mapped || k === 'oscillation_threshold') continue;
      notes.push(`circuit_breaker.${k}: ${JSON.stringify(v)} — no uet equivalent (the nearest is patch_policy.oscillation)`);
    }
  }
  for (const [k, v] of Object.entries(b)) {
    if (MAPPED.has(k) || k.startsWith('_')) continue;
    if (k === 'metadata' && isObj(v) && typeof v['description'] === 'string' && name === v['description']) {
      const rest = Object.entries(v).filter(([mk]) => mk !== 'description');
      if (rest.length > 0) notes.push(`metadata: ${JSON.stringify(Object.fromEntries(rest))}`);
      continue;
    }
    notes.push(`${k}: ${JSON.stringify(v)}`);
  }
  return { id, ws, notes, writes, deps: strings(b['depends_on']) };
}

function render(ws: Record<string, unknown>, notes: readonly string[]): string {
  const head = [`# Imported by \`uet import\` from a workstream bundle.`];
  if (notes.length > 0) {
    head.push('# Not mapped (kept here so nothing is lost):');
    for (const n of notes) head.push(...n.split('\n').map((l) => `#   ${l}`));
  }
  if (ws['tasks'] === undefined) head.push('# No commands were found: add tasks (edit tasks with patches:, static/runtime checks).');
  return `${head.join('\n')}\n${YAML.stringify(ws, { lineWidth: 0 })}`;
}
