/**
 * Template expansion (SPEC 1.5), between schema checks and normalisation: one located
 * workstream in, any number out.
 *
 *   - no use:, no matrix:   passes through as written;
 *   - use: T, with: {...}   T's parameters bound (with: values, then defaults), T's body
 *                           substituted, the workstream's own fields (substituted with the
 *                           same values) merged over it (tasks by id);
 *   - matrix: {k: [...]}    one workstream per combination (first key outermost); each
 *                           value fills every `{{k}}` of the workstream's own fields (its id
 *                           and with: values included) and, when k is a parameter of T, binds
 *                           it. With use:, a key that is neither a parameter nor used is a typo.
 *
 * A template body may itself say use: (bound from its own with:, substituted first); a chain
 * that leads back to a template already being expanded is E_TEMPLATE_RECURSION.
 *
 * Each expanded workstream gets an ExpandedSource, so every later error (schema, unknown
 * dependency, ...) points at the line that made the value and, for a template line, names
 * the use site too. The expanded workstream is checked against the workstream schema
 * again: a template's tasks are first checked as tasks here, once their strings are filled.
 */
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import { errorAt, formatLoc } from './diagnostic.js';
import type { LocatedWorkstream, RawWorkstream } from './raw.js';
import { checkSchema, show } from './schema-check.js';
import type { Bound, Located, Origin, Scope, SubstProblem } from './substitute.js';
import { childOrigin, ExpandedSource, mergeOver, omitKeys, originLoc, placeholdersUsed, substitute } from './substitute.js';
import { didYouMean, suggest } from './suggest.js';
import type { ParamType, ParamValue, TemplateDef, TemplateRegistry } from './templates.js';

export interface ExpandContext {
  readonly templates: TemplateRegistry;
}

export interface ExpandResult {
  readonly workstreams: LocatedWorkstream[];
  readonly errors: Diagnostic[];
  /** ids of the templates these workstreams used (directly or through other templates) */
  readonly used: ReadonlySet<string>;
}

const USE_KEYS = ['use', 'with', 'matrix'] as const;

export function expandWorkstreams(workstreams: readonly LocatedWorkstream[], ctx: ExpandContext): ExpandResult {
  const ex = new Expander(ctx.templates);
  const out: LocatedWorkstream[] = [];
  for (const lw of workstreams) out.push(...ex.expand(lw));
  return { workstreams: out, errors: ex.errors, used: ex.used };
}

/** one given parameter value: from with: or from a matrix combination */
interface Given {
  readonly name: string;
  readonly value: unknown;
  readonly origin: Origin;
  /** the value's place (for a wrong type) */
  readonly loc: SourceLoc;
  /** the name's place (for an unknown parameter) */
  readonly nameLoc: SourceLoc;
  readonly from: 'with' | 'matrix';
}

/** where a template is used, for binding its parameters and for messages */
interface UseSite {
  /** `workstream 'p/core'` or `template 'outer'` */
  readonly label: string;
  /** the use: value */
  readonly useLoc: SourceLoc;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeOk(t: ParamType, v: unknown): v is ParamValue {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'list':
      return Array.isArray(v);
  }
}

const TYPE_WORDS: Record<ParamType, string> = { string: 'a string', number: 'a number', boolean: 'true or false', list: 'a list' };

function paramList(t: TemplateDef): string {
  if (t.params.size === 0) return `template '${t.id}' has no parameters`;
  const ps = [...t.params.values()].map((p) => `${p.name} (${p.type}${p.default === undefined ? ', required' : `, default ${JSON.stringify(p.default)}`})`);
  return `parameters of template '${t.id}': ${ps.join(', ')}`;
}

class Expander {
  readonly errors: Diagnostic[] = [];
  readonly used = new Set<string>();
  private readonly seen = new Set<string>();

  constructor(private readonly templates: TemplateRegistry) {}

  private report(d: Diagnostic): void {
    // one template error is met once per use or combination: say it once
    const key = diagnosticKey(d);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.errors.push(d);
  }

  expand(lw: LocatedWorkstream): LocatedWorkstream[] {
    const data = lw.data;
    if (data.use === undefined && data.matrix === undefined) return [lw];
    const at = (...p: (string | number)[]): SourceLoc => lw.src.loc([...lw.path, ...p]);
    const wsLabel = `workstream '${typeof data.id === 'string' ? data.id : (lw.defaultId ?? '?')}'`;
    const useLoc = at('use');
    const via = lw.src.loc(lw.path);
    let tpl: TemplateDef | undefined;
    if (typeof data.use === 'string') {
      tpl = this.lookup(data.use, { label: wsLabel, useLoc }, undefined);
      if (!tpl) return [];
      this.used.add(tpl.id);
    }
    const base: Origin = { src: lw.src, path: lw.path };
    const own = omitKeys({ value: data as Record<string, unknown>, origin: base }, USE_KEYS);
    const matrix = isRecord(data.matrix) ? (data.matrix as Record<string, unknown[]>) : undefined;
    const combos = matrix ? combinations(matrix, base) : [[]];

    // with use:, a matrix key that is no parameter of the template only fills the
    // workstream's own strings (e.g. with: { dir: "packages/{{pkg}}" }); one used nowhere is a typo
    const localKeys = new Set(matrix && tpl ? Object.keys(matrix).filter((k) => !tpl.params.has(k)) : []);
    if (tpl && localKeys.size > 0) {
      const used = placeholdersUsed([own.value, data.with]);
      for (const k of localKeys) {
        if (used.has(k)) continue;
        this.report(
          errorAt(
            'E_TEMPLATE_PARAM_UNKNOWN',
            `${wsLabel}: matrix key '${k}' is no parameter of template '${tpl.id}' (${formatLoc(tpl.idLoc)}) and no {{${k}}} of the workstream uses it${didYouMean(k, tpl.params.keys())}`,
            lw.src.loc([...lw.path, 'matrix', k], 'key'),
            `matrix keys are the template's parameters, or fill {{key}} in the workstream's own fields (its id, with: values); ${paramList(tpl)}`,
          ),
        );
        return [];
      }
    }

    const made: Array<{ ws: Located<Record<string, unknown>>; combo: readonly Given[] }> = [];
    for (const combo of combos) {
      const comboScope: Scope = new Map(combo.map((g) => [g.name, { value: g.value as ParamValue, origin: g.origin }]));
      let ws: Located<Record<string, unknown>> | undefined;
      if (tpl) {
        const params = combo.filter((g) => !localKeys.has(g.name));
        const given = [...this.withValues(data.with, childOrigin(base, 'with'), comboScope, tpl, wsLabel, matrix ? at('matrix') : undefined), ...params];
        const scope = this.bind(tpl, given, { label: wsLabel, useLoc }, undefined);
        if (!scope) continue;
        const body = this.instantiate(tpl, scope, [tpl.id], via);
        if (!body) continue;
        const ownScope = new Map([...scope, ...[...comboScope].filter(([k]) => localKeys.has(k))]);
        const why = matrix ? `neither template '${tpl.id}' (${formatLoc(tpl.idLoc)}) nor the matrix defines it` : `template '${tpl.id}' (${formatLoc(tpl.idLoc)}) has no such parameter`;
        const mine = this.substituteOwn(own, ownScope, why, tpl);
        ws = mergeOver(body, mine);
      } else {
        ws = this.substituteOwn(own, comboScope, `the matrix (${formatLoc(at('matrix'))}) has no such key`, undefined);
      }
      made.push({ ws, combo });
    }

    // a matrix that makes one id twice
    const firstBy = new Map<string, readonly Given[]>();
    const out: LocatedWorkstream[] = [];
    for (const { ws, combo } of made) {
      const id = typeof ws.value['id'] === 'string' ? ws.value['id'] : lw.defaultId;
      if (matrix && id !== undefined) {
        const first = firstBy.get(id);
        if (first) {
          this.report(
            errorAt(
              'E_MATRIX_DUPLICATE',
              `the matrix (${formatLoc(at('matrix'))}) makes workstream '${id}' twice: for ${describeCombo(first)} and for ${describeCombo(combo)}`,
              data.id !== undefined ? at('id') : via,
              `put every matrix key into the id, e.g. id: "${typeof data.id === 'string' ? data.id.replace(/\{\{.*$/, '') : 'ws-'}${Object.keys(matrix)
                .map((k) => `{{${k}}}`)
                .join('-')}", and give each key distinct values`,
            ),
          );
          continue;
        }
        firstBy.set(id, combo);
      }
      const src = new ExpandedSource(ws.value, ws.origin, lw.src, via);
      const schemaErrors = checkSchema('workstream', src, lw.defaultId);
      schemaErrors.forEach((d) => this.report(d));
      if (schemaErrors.length > 0) continue;
      out.push({
        data: ws.value as RawWorkstream,
        src,
        path: [],
        ...(lw.defaultId !== undefined ? { defaultId: lw.defaultId } : {}),
        ...(tpl ? { template: tpl.id } : {}),
      });
    }
    return out;
  }

  /** the template `id`, or E_UNKNOWN_TEMPLATE (with the closest id and where it is) */
  private lookup(id: string, site: UseSite, via: SourceLoc | undefined): TemplateDef | undefined {
    const t = this.templates.get(id);
    if (t) return t;
    const ids = this.templates.ids();
    const s = suggest(id, ids);
    const near = s !== undefined ? this.templates.get(s) : undefined;
    const builtins = this.templates.builtinIds();
    this.report(
      errorAt(
        'E_UNKNOWN_TEMPLATE',
        `${site.label} uses template '${id}', which does not exist${near ? ` (did you mean '${near.id}', at ${formatLoc(near.idLoc)}?)` : ''}`,
        withVia(site.useLoc, via),
        `templates of this project: ${ids.filter((i) => !builtins.includes(i)).join(', ') || 'none'} (from the config's templates: globs, default templates/*.yaml); built-in: ${builtins.join(', ') || 'none'}`,
      ),
    );
    return undefined;
  }

  /** with: values, each substituted with the matrix combination (so with: { x: "{{k}}" } works) */
  private withValues(w: unknown, origin: Origin, comboScope: Scope, tpl: TemplateDef, label: string, matrixLoc: SourceLoc | undefined): Given[] {
    if (!isRecord(w)) return [];
    return Object.entries(w).map(([name, raw]) => {
      const o = childOrigin(origin, name);
      const problems: SubstProblem[] = [];
      const r = substitute({ value: raw, origin: o }, comboScope, problems);
      this.reportProblems(problems, (p) =>
        `${label}: with.${name} uses {{${p.name}}}, which ${matrixLoc ? `the matrix (${formatLoc(matrixLoc)}) does not define` : 'nothing defines: there is no matrix'} (template '${tpl.id}' at ${formatLoc(tpl.idLoc)})`,
        undefined,
      );
      return { name, value: r.value, origin: r.origin, loc: originLoc(o), nameLoc: originLoc(o, 'key'), from: 'with' as const };
    });
  }

  /**
   * Bind a template's parameters: every given value must be a declared parameter of its
   * type; every parameter without a default must be given. The scope, or undefined (reported).
   */
  private bind(tpl: TemplateDef, given: readonly Given[], site: UseSite, via: SourceLoc | undefined): Scope | undefined {
    const scope = new Map<string, Bound>();
    let ok = true;
    for (const g of given) {
      const p = tpl.params.get(g.name);
      if (!p) {
        this.report(
          errorAt(
            'E_TEMPLATE_PARAM_UNKNOWN',
            `${site.label}: template '${tpl.id}' (${formatLoc(tpl.idLoc)}) has no parameter '${g.name}'${didYouMean(g.name, tpl.params.keys())}`,
            withVia(g.nameLoc, via),
            paramList(tpl),
          ),
        );
        ok = false;
        continue;
      }
      if (!typeOk(p.type, g.value)) {
        this.report(
          errorAt(
            'E_TEMPLATE_PARAM_TYPE',
            `${site.label}: parameter '${g.name}' of template '${tpl.id}' must be ${TYPE_WORDS[p.type]}, not ${show(g.value)} (declared at ${formatLoc(p.loc)})`,
            withVia(g.loc, via),
            p.description ?? `give '${g.name}' ${TYPE_WORDS[p.type]}${p.type === 'string' ? ' (quote numbers and true/false to make them strings)' : ''}`,
          ),
        );
        ok = false;
        continue;
      }
      scope.set(g.name, { value: g.value, origin: g.origin });
    }
    for (const p of tpl.params.values()) {
      if (scope.has(p.name) || given.some((g) => g.name === p.name)) continue;
      if (p.default !== undefined) {
        scope.set(p.name, { value: p.default, origin: { src: tpl.src, path: ['params', p.name, 'default'] } });
        continue;
      }
      this.report(
        errorAt(
          'E_TEMPLATE_PARAM_MISSING',
          `${site.label} uses template '${tpl.id}' without its required parameter '${p.name}' (declared at ${formatLoc(p.loc)})`,
          withVia(site.useLoc, via),
          `add it: with: { ${p.name}: ... }${p.description ? ` (${p.description})` : ''}; ${paramList(tpl)}`,
        ),
      );
      ok = false;
    }
    return ok ? scope : undefined;
  }

  /** a template's body with its parameters filled, merged over the template it uses (if any) */
  private instantiate(tpl: TemplateDef, scope: Scope, stack: readonly string[], via: SourceLoc): Located<Record<string, unknown>> | undefined {
    const problems: SubstProblem[] = [];
    const body = substitute({ value: tpl.body, origin: { src: tpl.src, path: ['body'] } }, scope, problems) as Located<Record<string, unknown>>;
    const declared = [...tpl.params.keys()];
    this.reportProblems(problems, (p) => `template '${tpl.id}' uses {{${p.name}}}, which no parameter defines${didYouMean(p.name, declared)}`, via, tpl);
    if (problems.length > 0) return undefined;
    const inner = body.value['use'];
    if (typeof inner !== 'string') return body;
    const useOrigin = childOrigin(body.origin, 'use');
    const site: UseSite = { label: `template '${tpl.id}'`, useLoc: originLoc(useOrigin) };
    const next = this.lookup(inner, site, via);
    if (!next) return undefined;
    this.used.add(next.id);
    if (stack.includes(next.id)) {
      this.report(
        errorAt(
          'E_TEMPLATE_RECURSION',
          `template '${tpl.id}' uses template '${next.id}', which leads back to itself: ${[...stack, next.id].join(' → ')}`,
          withVia(site.useLoc, via),
          'a template may use other templates, but never itself, directly or through others: break the chain',
        ),
      );
      return undefined;
    }
    const withOrigin = childOrigin(body.origin, 'with');
    const w = body.value['with'];
    const given: Given[] = isRecord(w)
      ? Object.entries(w).map(([name, value]) => {
          const o = childOrigin(withOrigin, name);
          return { name, value, origin: o, loc: originLoc(o), nameLoc: originLoc(o, 'key'), from: 'with' as const };
        })
      : [];
    const innerScope = this.bind(next, given, site, via);
    if (!innerScope) return undefined;
    const innerBody = this.instantiate(next, innerScope, [...stack, next.id], via);
    if (!innerBody) return undefined;
    return mergeOver(innerBody, omitKeys(body, ['use', 'with']));
  }

  /** the use site's own fields, filled from the bound parameters (or the matrix combination) */
  private substituteOwn(own: Located<Record<string, unknown>>, scope: Scope, why: string, tpl: TemplateDef | undefined): Located<Record<string, unknown>> {
    const problems: SubstProblem[] = [];
    const r = substitute(own, scope, problems) as Located<Record<string, unknown>>;
    const names = [...scope.keys()];
    this.reportProblems(problems, (p) => `{{${p.name}}} is not defined: ${why}${didYouMean(p.name, names)}`, undefined, tpl);
    return r;
  }

  private reportProblems(problems: readonly SubstProblem[], undefinedMessage: (p: SubstProblem) => string, via: SourceLoc | undefined, tpl?: TemplateDef): void {
    problemDiagnostics(problems, undefinedMessage, via, tpl).forEach((d) => this.report(d));
  }
}

/** substitution problems as diagnostics: undefined names, lists inside strings */
function problemDiagnostics(problems: readonly SubstProblem[], undefinedMessage: (p: SubstProblem) => string, via: SourceLoc | undefined, tpl?: TemplateDef): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const p of problems) {
    const loc = withVia(originLoc(p.origin), via);
    switch (p.kind) {
      case 'undefined':
        out.push(
          errorAt(
            'E_TEMPLATE_UNDEFINED',
            undefinedMessage(p),
            loc,
            tpl ? `declare it under params: of template '${tpl.id}', or fix the name; ${paramList(tpl)}` : 'add the key to matrix:, or fix the name',
          ),
        );
        break;
      case 'list-in-string':
        out.push(
          errorAt(
            'E_TEMPLATE_PARAM_TYPE',
            `list parameter '${p.name}' is used inside a string${tpl ? ` (template '${tpl.id}' at ${formatLoc(tpl.idLoc)})` : ''}: a list splices only as a list item of its own`,
            loc,
            `write it as a list item: ["{{${p.name}}}"], or make '${p.name}' a string`,
          ),
        );
        break;
    }
  }
  return out;
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.code}\0${d.loc ? formatLoc(d.loc) : ''}\0${d.message}`;
}

function withVia(loc: SourceLoc, via: SourceLoc | undefined): SourceLoc {
  return via && !loc.via && loc.file !== via.file ? { ...loc, via } : loc;
}

/** every combination of a matrix, first key outermost, each value with its place */
function combinations(matrix: Readonly<Record<string, readonly unknown[]>>, base: Origin): Given[][] {
  let acc: Given[][] = [[]];
  const m = childOrigin(base, 'matrix');
  for (const [name, values] of Object.entries(matrix)) {
    const keyLoc = originLoc(childOrigin(m, name), 'key');
    const next: Given[][] = [];
    for (const c of acc) {
      values.forEach((value, i) => {
        const o = childOrigin(childOrigin(m, name), i);
        next.push([...c, { name, value, origin: o, loc: originLoc(o), nameLoc: keyLoc, from: 'matrix' }]);
      });
    }
    acc = next;
  }
  return acc;
}

function describeCombo(c: readonly Given[]): string {
  return c.map((g) => `${g.name}=${typeof g.value === 'string' ? g.value : JSON.stringify(g.value)}`).join(', ');
}

/**
 * A template no workstream uses is still checked: every `{{name}}` of its body must be one of
 * its parameters, and no list parameter may sit inside a string. (A used template had these
 * checks while it was expanded, with its use site named.)
 */
export function checkUnusedTemplate(tpl: TemplateDef): Diagnostic[] {
  const sample: Record<ParamType, ParamValue> = { string: '', number: 0, boolean: false, list: [] };
  const scope: Scope = new Map([...tpl.params.values()].map((p) => [p.name, { value: sample[p.type], origin: { src: tpl.src, path: ['params', p.name] } }]));
  const problems: SubstProblem[] = [];
  substitute({ value: tpl.body, origin: { src: tpl.src, path: ['body'] } }, scope, problems);
  const message = (p: SubstProblem): string => `template '${tpl.id}' (used by no workstream yet) uses {{${p.name}}}, which no parameter defines${didYouMean(p.name, tpl.params.keys())}`;
  // one problem per place (a string may repeat a name)
  const seen = new Set<string>();
  return problemDiagnostics(problems, message, undefined, tpl).filter((d) => {
    const k = diagnosticKey(d);
    return seen.has(k) ? false : (seen.add(k), true);
  });
}
