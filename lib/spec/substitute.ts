/**
 * The pure parts of template expansion: `{{name}}` substitution and merging a use site's
 * fields over a template's, each value carrying its Origin (the file and path it was written
 * at) so that an error in an expanded workstream points at the line that made it.
 *
 * Substitution rules (SPEC 1.5):
 *  - `{{name}}` inside a string is replaced by the value's text (numbers and booleans as
 *    written); a list there is an error (`list-in-string`): lists splice, they do not join.
 *  - a string that is only `{{name}}` becomes the value itself, with its type (so
 *    `retries: "{{n}}"` is a number, `inputs: "{{extra}}"` a list).
 *  - a list item that is only `{{name}}` of a list value splices the list's items in its place.
 *  - names that match no parameter are reported (`undefined`) and left as written.
 * Mapping keys are never substituted.
 */
import type { SourceLoc } from './diagnostic.js';
import type { ParamValue } from './templates.js';
import type { Locator, Path, PathSeg } from './yaml-source.js';

/**
 * Where a value was written: a file (any Locator) and the path inside it. `kids` record
 * children whose origin is not simply `path + key` (merged keys, shifted list items); any
 * child not listed derives its origin from its parent.
 */
export interface Origin {
  readonly src: Locator;
  readonly path: Path;
  readonly kids?: ReadonlyMap<string, Origin>;
}

export interface Located<T = unknown> {
  readonly value: T;
  readonly origin: Origin;
}

export function childOrigin(o: Origin, seg: PathSeg): Origin {
  return o.kids?.get(String(seg)) ?? { src: o.src, path: [...o.path, seg] };
}

export function originLoc(o: Origin, which: 'value' | 'key' = 'value'): SourceLoc {
  return o.src.loc(o.path, which);
}

/** a parameter's value in a scope, with where that value was written */
export interface Bound {
  readonly value: ParamValue;
  readonly origin: Origin;
}

export type Scope = ReadonlyMap<string, Bound>;

export type SubstProblem =
  | { readonly kind: 'undefined'; readonly name: string; readonly origin: Origin }
  | { readonly kind: 'list-in-string'; readonly name: string; readonly origin: Origin };

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const ANY = new RegExp(`\\{\\{\\s*(${NAME})\\s*\\}\\}`, 'g');
const ALONE = new RegExp(`^\\{\\{\\s*(${NAME})\\s*\\}\\}$`);

/** the names of every `{{name}}` in a string */
export function placeholdersIn(s: string): string[] {
  return [...s.matchAll(ANY)].map((m) => m[1]!);
}

/** the names of every `{{name}}` in the strings of a value tree */
export function placeholdersUsed(v: unknown, into = new Set<string>()): Set<string> {
  if (typeof v === 'string') for (const n of placeholdersIn(v)) into.add(n);
  else if (Array.isArray(v)) for (const x of v) placeholdersUsed(x, into);
  else if (isRecord(v)) for (const x of Object.values(v)) placeholdersUsed(x, into);
  return into;
}

/** true when `s` is exactly one placeholder; its name */
export function alonePlaceholder(s: string): string | undefined {
  return ALONE.exec(s)?.[1];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Substitute every `{{name}}` in a value tree; problems are appended to `problems`. */
export function substitute(v: Located, scope: Scope, problems: SubstProblem[]): Located {
  const { value, origin } = v;
  if (typeof value === 'string') return substituteString(value, origin, scope, problems);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    const kids = new Map<string, Origin>();
    value.forEach((item: unknown, i) => {
      const o = childOrigin(origin, i);
      const name = typeof item === 'string' ? alonePlaceholder(item) : undefined;
      const bound = name !== undefined ? scope.get(name) : undefined;
      if (bound && Array.isArray(bound.value)) {
        bound.value.forEach((x: unknown, j) => {
          kids.set(String(out.length), childOrigin(bound.origin, j));
          out.push(x);
        });
        return;
      }
      const r = substitute({ value: item, origin: o }, scope, problems);
      kids.set(String(out.length), r.origin);
      out.push(r.value);
    });
    return { value: out, origin: { src: origin.src, path: origin.path, kids } };
  }
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    const kids = new Map<string, Origin>();
    for (const [k, x] of Object.entries(value)) {
      const r = substitute({ value: x, origin: childOrigin(origin, k) }, scope, problems);
      out[k] = r.value;
      kids.set(k, r.origin);
    }
    return { value: out, origin: { src: origin.src, path: origin.path, kids } };
  }
  return v;
}

function substituteString(s: string, origin: Origin, scope: Scope, problems: SubstProblem[]): Located {
  if (!s.includes('{{')) return { value: s, origin };
  const alone = alonePlaceholder(s);
  if (alone !== undefined) {
    const b = scope.get(alone);
    if (!b) {
      problems.push({ kind: 'undefined', name: alone, origin });
      return { value: s, origin };
    }
    return { value: Array.isArray(b.value) ? [...(b.value as unknown[])] : b.value, origin };
  }
  const text = s.replace(ANY, (whole, name: string) => {
    const b = scope.get(name);
    if (!b) {
      problems.push({ kind: 'undefined', name, origin });
      return whole;
    }
    if (Array.isArray(b.value)) {
      problems.push({ kind: 'list-in-string', name, origin });
      return whole;
    }
    return String(b.value);
  });
  return { value: text, origin };
}

/** the value without some keys (the origin unchanged: the other keys keep their paths) */
export function omitKeys(v: Located<Record<string, unknown>>, keys: readonly string[]): Located<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v.value)) if (!keys.includes(k)) out[k] = x;
  return { value: out, origin: v.origin };
}

/**
 * A use site's fields over a template's body: each key of `over` replaces the body's, except
 * `tasks`, merged by id (a task of `over` with a body task's id overrides that task's fields;
 * others are added after the body's). The result's own origin is `over`'s (the use site).
 */
export function mergeOver(base: Located<Record<string, unknown>>, over: Located<Record<string, unknown>>): Located<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const kids = new Map<string, Origin>();
  for (const [k, x] of Object.entries(base.value)) {
    out[k] = x;
    kids.set(k, childOrigin(base.origin, k));
  }
  for (const [k, x] of Object.entries(over.value)) {
    const o = childOrigin(over.origin, k);
    if (k === 'tasks' && Array.isArray(out[k]) && Array.isArray(x)) {
      const merged = mergeTasks({ value: out[k] as unknown[], origin: kids.get(k)! }, { value: x as unknown[], origin: o });
      out[k] = merged.value;
      kids.set(k, merged.origin);
    } else {
      out[k] = x;
      kids.set(k, o);
    }
  }
  return { value: out, origin: { src: over.origin.src, path: over.origin.path, kids } };
}

function taskId(t: unknown): string | undefined {
  return isRecord(t) && typeof t['id'] === 'string' ? t['id'] : undefined;
}

function mergeTasks(base: Located<unknown[]>, over: Located<unknown[]>): Located<unknown[]> {
  const out: unknown[] = [];
  const kids = new Map<string, Origin>();
  const index = new Map<string, number>();
  base.value.forEach((t, i) => {
    const id = taskId(t);
    if (id !== undefined && !index.has(id)) index.set(id, out.length);
    kids.set(String(out.length), childOrigin(base.origin, i));
    out.push(t);
  });
  over.value.forEach((t, i) => {
    const o = childOrigin(over.origin, i);
    const id = taskId(t);
    const at = id !== undefined ? index.get(id) : undefined;
    if (at === undefined) {
      kids.set(String(out.length), o);
      out.push(t);
      return;
    }
    const merged = mergeOver({ value: out[at] as Record<string, unknown>, origin: kids.get(String(at))! }, { value: t as Record<string, unknown>, origin: o });
    // the task stays where the template defined it (its loc: the template's task)
    const keep = kids.get(String(at))!;
    out[at] = merged.value;
    kids.set(String(at), { src: keep.src, path: keep.path, kids: merged.origin.kids! });
  });
  return { value: out, origin: { src: base.origin.src, path: base.origin.path, kids } };
}

/**
 * A Locator over an expanded workstream: each path maps to where its value was written
 * (the use site, or a template line, which then carries the use site as `via`).
 */
export class ExpandedSource implements Locator {
  constructor(
    readonly data: unknown,
    private readonly origin: Origin,
    /** the file of the use site: its locations need no `via` */
    private readonly useSite: Locator,
    private readonly via: SourceLoc,
  ) {}

  loc(path: Path, which: 'value' | 'key' = 'value'): SourceLoc {
    let o = this.origin;
    for (const seg of path) o = childOrigin(o, seg);
    const l = o.src.loc(o.path, which);
    return o.src === this.useSite ? l : { ...l, via: this.via };
  }
}
