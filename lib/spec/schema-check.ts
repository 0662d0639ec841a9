/**
 * JSON Schema checks of spec files (schema/*.schema.json, draft-07), with ajv's errors turned
 * into diagnostics that point at the offending YAML node and read like English.
 *
 * The validators are compiled from the schemas when uet is built (scripts/bundle.mjs writes
 * ajv's standalone code to dist/bundle/schema-validators.cjs, with the same options): compiling
 * the five schemas took ~120 ms, and loading ajv ~35 ms more, of every run that reads the spec
 * (a cold build, the first after a spec edit, `uet validate`). The module records a digest of
 * the schemas it was compiled from; when it is missing or was compiled from other schemas, ajv
 * compiles them here, as it always did.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import type { Diagnostic } from './diagnostic.js';
import { errorAt } from './diagnostic.js';
import { suggest } from './suggest.js';
import type { Locator, Path, PathSeg } from './yaml-source.js';

export type SchemaName = 'config' | 'phase' | 'workstream' | 'task' | 'template';
export const SCHEMA_NAMES: readonly SchemaName[] = ['task', 'workstream', 'phase', 'config', 'template'];

/** ajv's options, here and where the validators are compiled in advance */
export const AJV_OPTIONS: Options = { allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true };
/** the precompiled validators' file, in dist/bundle */
export const PRECOMPILED_FILE = 'schema-validators.cjs';

const require = createRequire(import.meta.url);

let schemaFolder: string | undefined;

/** the folder holding the JSON Schemas: `schema/` at the package root (looked for once) */
export function schemaDir(): string {
  if (schemaFolder !== undefined) return schemaFolder;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'schema');
    if (existsSync(join(candidate, 'config.schema.json'))) return (schemaFolder = candidate);
    const up = dirname(dir);
    if (up === dir) throw new Error('bug: cannot find the schema/ folder of uet');
    dir = up;
  }
}

interface Checker {
  readonly validators: Readonly<Record<SchemaName, ValidateFunction>>;
  /** property name -> its description, from every schema (for hints) */
  readonly descriptions: ReadonlyMap<string, string>;
}

/** The schemas' texts, by name, as read from schema/. */
export function schemaTexts(): ReadonlyMap<SchemaName, string> {
  const dir = schemaDir();
  return new Map(SCHEMA_NAMES.map((name) => [name, readFileSync(join(dir, `${name}.schema.json`), 'utf8')]));
}

/** what a precompiled module records of the schemas it was compiled from */
export function schemasDigest(texts: ReadonlyMap<SchemaName, string>): string {
  const h = createHash('sha256');
  for (const [name, text] of texts) h.update(`${name}\0${text}\0`);
  return h.digest('hex');
}

/** which validators the checks use: compiled at build time, or by ajv in this process */
export type ValidatorSource = 'precompiled' | 'compiled';

let checker: (Checker & { readonly source: ValidatorSource }) | undefined;
let usePrecompiled = true;

/** the validators' source, once a check has run (for tests) */
export function validatorSource(): ValidatorSource | undefined {
  return checker?.source;
}

/** Forget the validators: the next check loads them again (`precompiled: false`: ajv compiles them). For tests. */
export function resetChecker(opts: { readonly precompiled?: boolean } = {}): void {
  checker = undefined;
  usePrecompiled = opts.precompiled !== false;
}

function getChecker(): Checker {
  if (checker) return checker;
  const texts = schemaTexts();
  const schemas = new Map([...texts].map(([name, text]) => [name, JSON.parse(text) as object]));
  const descriptions = new Map<string, string>();
  for (const schema of schemas.values()) collectDescriptions(schema, descriptions);
  const precompiled = usePrecompiled ? precompiledValidators(schemasDigest(texts)) : undefined;
  checker = precompiled ? { validators: precompiled, descriptions, source: 'precompiled' } : { validators: compileValidators(schemas), descriptions, source: 'compiled' };
  return checker;
}

/** where `npm run build` writes the precompiled validators: dist/bundle at the package root */
export function precompiledPath(): string {
  return join(dirname(schemaDir()), 'dist', 'bundle', PRECOMPILED_FILE);
}

/** one validator per schema, as `get` gives them; undefined when it has none for one */
function validatorsBy(get: (name: SchemaName) => ValidateFunction | undefined): Record<SchemaName, ValidateFunction> | undefined {
  const validators: Partial<Record<SchemaName, ValidateFunction>> = {};
  for (const name of SCHEMA_NAMES) {
    const v = get(name);
    if (v === undefined) return undefined;
    validators[name] = v;
  }
  return validators as Record<SchemaName, ValidateFunction>;
}

/** the validators `npm run build` compiled (into `file`) from the schemas whose digest is `digest`, if it did */
export function precompiledValidators(digest: string, file = precompiledPath()): Record<SchemaName, ValidateFunction> | undefined {
  let mod: Partial<Record<SchemaName | 'digest', unknown>>;
  try {
    mod = require(file) as typeof mod;
  } catch {
    return undefined;
  }
  if (mod.digest !== digest) return undefined;
  return validatorsBy((name) => {
    const v = mod[name];
    return typeof v === 'function' ? (v as ValidateFunction) : undefined;
  });
}

/** ajv, loaded and compiling the schemas here (~155 ms) */
function compileValidators(schemas: ReadonlyMap<SchemaName, object>): Record<SchemaName, ValidateFunction> {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv(AJV_OPTIONS);
  for (const schema of schemas.values()) ajv.addSchema(schema);
  const compiled = validatorsBy((name) => ajv.getSchema(`${name}.schema.json`));
  if (!compiled) throw new Error('bug: a schema is missing from ajv');
  return compiled;
}

function collectDescriptions(schema: unknown, out: Map<string, string>): void {
  if (Array.isArray(schema)) {
    for (const s of schema) collectDescriptions(s, out);
    return;
  }
  if (!schema || typeof schema !== 'object') return;
  const s = schema as Record<string, unknown>;
  const props = s['properties'];
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
      const d = (v as Record<string, unknown> | null)?.['description'];
      if (typeof d === 'string' && !out.has(k)) out.set(k, d);
    }
  }
  for (const v of Object.values(s)) if (v && typeof v === 'object') collectDescriptions(v, out);
}

/** Validate `data` (the parsed content of `src`) against one of the schemas. */
export function checkSchema(name: SchemaName, src: Locator, defaultId?: string): Diagnostic[] {
  const data = src.data;
  const c = getChecker();
  const validate = c.validators[name];
  if (validate(data)) return [];
  const nodes = toTree(dropEchoes(validate.errors ?? []));
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const n of nodes) {
    for (const d of render(n, { src, data, name, descriptions: c.descriptions, defaultId })) {
      const key = `${d.loc?.line}:${d.loc?.col}:${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(d);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ajv reports a flat list; the branches of an anyOf come right before the anyOf's own error.
// Rebuild that nesting, then choose per anyOf what to say.

interface Node {
  readonly e: ErrorObject;
  readonly children: Node[];
}

/**
 * `{ kinds: static }` fails twice: an unknown key 'kinds' and a missing 'kind'. The first says
 * it all (with its did-you-mean), so drop the second.
 */
function dropEchoes(errors: readonly ErrorObject[]): ErrorObject[] {
  const typos = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const props = Object.keys(((e.parentSchema as Record<string, unknown> | undefined)?.['properties'] as object | undefined) ?? {});
    const s = suggest(String((e.params as { additionalProperty: string }).additionalProperty), props);
    if (s !== undefined) typos.add(`${e.instancePath}\0${s}`);
  }
  if (typos.size === 0) return [...errors];
  return errors.filter(
    (e) => e.keyword !== 'required' || !typos.has(`${e.instancePath}\0${String((e.params as { missingProperty: string }).missingProperty)}`),
  );
}

function under(path: string, p: string): boolean {
  return path === p || path.startsWith(`${p}/`);
}

function toTree(errors: readonly ErrorObject[]): Node[] {
  const out: Node[] = [];
  for (const e of errors) {
    if (e.keyword === 'if') continue; // its then/else branch reported the real problem
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      let k = out.length;
      while (k > 0 && under(out[k - 1]!.e.instancePath, e.instancePath)) k--;
      const children = out.splice(k);
      out.push({ e, children });
    } else out.push({ e, children: [] });
  }
  return out;
}

interface Ctx {
  readonly src: Locator;
  readonly data: unknown;
  readonly name: SchemaName;
  readonly descriptions: ReadonlyMap<string, string>;
  /** a workstream file's id when it has no id: key */
  readonly defaultId: string | undefined;
}

const STRUCTURAL = new Set(['additionalProperties', 'required', 'propertyNames', 'anyOf', 'oneOf']);

function render(n: Node, ctx: Ctx): Diagnostic[] {
  const e = n.e;
  if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf') return [renderOne(e, ctx)];
  // Branches that rejected the value's type say nothing useful; a branch that accepted the
  // type but found a problem inside (an unknown key, a bad list item) says what is wrong.
  const p = e.instancePath;
  const telling = n.children.filter((c) => c.e.instancePath !== p || STRUCTURAL.has(c.e.keyword));
  if (telling.length > 0) return telling.flatMap((c) => render(c, ctx));
  return [diag(ctx, e, `must be ${titleOf(e.parentSchema) ?? 'a valid value'}, not ${show(e.data)}`)];
}

function renderOne(e: ErrorObject, ctx: Ctx): Diagnostic {
  const ps = e.parentSchema as Record<string, unknown> | undefined;
  const title = titleOf(ps);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((ps?.['properties'] as Record<string, unknown> | undefined) ?? {});
      const path = [...pointerToPath(e.instancePath), key];
      const s = suggest(key, allowed);
      const { subject } = describePath(ctx, pointerToPath(e.instancePath));
      const message = `${subject} has an unknown key '${key}'${s ? ` (did you mean '${s}'?)` : ''}`;
      const hint = `allowed keys: ${allowed.join(', ')}${ps?.['patternProperties'] ? ' (and x-* for your own)' : ''}`;
      return errorAt('E_SCHEMA', message, ctx.src.loc(path, 'key'), hint);
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      const { subject } = describePath(ctx, pointerToPath(e.instancePath));
      const own = ((ps?.['properties'] as Record<string, Record<string, unknown>> | undefined)?.[missing]?.['description']);
      const desc = typeof own === 'string' ? own : ctx.descriptions.get(missing);
      return errorAt(
        'E_SCHEMA',
        `${subject} is missing the required key '${missing}'`,
        ctx.src.loc(pointerToPath(e.instancePath)),
        `add \`${missing}:\`${desc ? ` (${desc})` : ''}`,
      );
    }
    case 'propertyNames': {
      const name = String((e.params as { propertyName: string }).propertyName);
      const path = [...pointerToPath(e.instancePath), name];
      const { subject } = describePath(ctx, pointerToPath(e.instancePath));
      const inner = (ps?.['propertyNames'] as Record<string, unknown> | undefined) ?? {};
      const t = titleOf(inner) ?? 'a valid name';
      return errorAt('E_SCHEMA', `${subject}: key '${name}' is not ${t}`, ctx.src.loc(path, 'key'), `rename '${name}' to ${t}`);
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const strs = allowed.filter((v): v is string => typeof v === 'string');
      const s = typeof e.data === 'string' ? suggest(e.data, strs) : undefined;
      const words = title ?? `one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
      return diag(ctx, e, `must be ${words}, not ${show(e.data)}${s ? ` (did you mean '${s}'?)` : ''}`);
    }
    case 'const':
      return diag(ctx, e, `must be ${title ?? JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, not ${show(e.data)}`);
    case 'type':
    case 'pattern':
    case 'format':
      return diag(ctx, e, `must be ${title ?? typeWords(ps?.['type'])}, not ${show(e.data)}`);
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return diag(ctx, e, `must be ${title ?? `${e.message ?? 'in range'}`}, not ${show(e.data)}`);
    case 'minLength':
      return diag(ctx, e, 'must not be empty');
    case 'minItems':
      return diag(ctx, e, 'must not be an empty list');
    default:
      return diag(ctx, e, `${e.message ?? 'is not valid'}${title ? ` (expected ${title})` : ''}`);
  }
}

function diag(ctx: Ctx, e: ErrorObject, what: string): Diagnostic {
  const path = pointerToPath(e.instancePath);
  if (path.length === 0 && e.keyword === 'type') {
    return errorAt('E_SCHEMA', `this file must hold ${titleOf(e.parentSchema) ?? 'a mapping'} (a mapping of keys), not ${show(e.data)}`, ctx.src.loc([]), hintForRoot(ctx, path));
  }
  const { subject, key } = describePath(ctx, path);
  const own = (e.parentSchema as Record<string, unknown> | undefined)?.['description'];
  const hint = (typeof own === 'string' && path.length > 0 ? own : undefined) ?? (key !== undefined ? ctx.descriptions.get(key) : undefined) ?? hintForRoot(ctx, path);
  return errorAt('E_SCHEMA', `${subject} ${what}`, ctx.src.loc(path), hint);
}

function hintForRoot(ctx: Ctx, path: Path): string {
  if (path.length === 0) return `a ${ctx.name === 'config' ? 'config' : ctx.name} file holds one YAML mapping (key: value lines)`;
  return 'see the JSON Schema in uet\'s schema/ folder';
}

function titleOf(schema: unknown): string | undefined {
  const t = (schema as Record<string, unknown> | undefined)?.['title'];
  return typeof t === 'string' ? t : undefined;
}

function typeWords(t: unknown): string {
  const one = (x: unknown): string =>
    x === 'object' ? 'a mapping' : x === 'array' ? 'a list' : x === 'integer' ? 'a whole number' : x === 'number' ? 'a number' : x === 'boolean' ? 'true or false' : x === 'string' ? 'a string' : String(x);
  return Array.isArray(t) ? t.map(one).join(' or ') : one(t);
}

/** a value as a user would recognise it in a message */
export function show(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

export function pointerToPath(pointer: string): PathSeg[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => {
      const k = s.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^(0|[1-9]\d*)$/.test(k) ? Number(k) : k;
    });
}

function get(data: unknown, path: Path): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function idOf(data: unknown, path: Path, index: number): string {
  const id = get(data, [...path, 'id']);
  return typeof id === 'string' ? id : `#${index + 1}`;
}

/**
 * Name what a path points into, the way a user thinks of it: `task 'parser/test': timeout`.
 * Returns the subject phrase and the last key (for hints).
 */
function describePath(ctx: Ctx, path: Path): { subject: string; key: string | undefined } {
  let entity: string;
  let rest: Path;
  const d = ctx.data;
  const p = path;
  if (ctx.name === 'phase' && p[0] === 'workstreams' && typeof p[1] === 'number') {
    const ws = idOf(d, p.slice(0, 2), p[1]);
    if (p[2] === 'tasks' && typeof p[3] === 'number') {
      entity = `task '${ws}/${idOf(d, p.slice(0, 4), p[3])}'`;
      rest = p.slice(4);
    } else {
      entity = `workstream '${ws}'`;
      rest = p.slice(2);
    }
  } else if (ctx.name === 'phase' && p[0] === 'gates' && typeof p[1] === 'number') {
    entity = `gate '${idOf(d, p.slice(0, 2), p[1])}'`;
    rest = p.slice(2);
  } else if (ctx.name === 'workstream' && p[0] === 'tasks' && typeof p[1] === 'number') {
    const id = get(d, ['id']);
    const ws = typeof id === 'string' ? id : ctx.defaultId;
    const t = idOf(d, p.slice(0, 2), p[1]);
    entity = `task '${ws !== undefined ? `${ws}/` : ''}${t}'`;
    rest = p.slice(2);
  } else if (ctx.name === 'config' && p[0] === 'tools' && typeof p[1] === 'string') {
    entity = `tool '${p[1]}'`;
    rest = p.slice(2);
  } else {
    const id = get(d, ['id']) ?? (ctx.name === 'workstream' ? ctx.defaultId : undefined);
    entity = ctx.name === 'config' ? '' : typeof id === 'string' ? `${ctx.name} '${id}'` : `the ${ctx.name}`;
    rest = p;
  }
  const key = [...rest].reverse().find((s): s is string => typeof s === 'string');
  if (rest.length === 0) return { subject: entity === '' ? 'the config' : entity, key };
  const label = rest.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  return { subject: entity === '' ? label : `${entity}: ${label}`, key };
}
