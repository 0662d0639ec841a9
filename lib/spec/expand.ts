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

/** a workstream with use: or matrix:, and the places its messages name */
interface WsSite {
  readonly lw: LocatedWorkstream;
  readonly base: Origin;
  /** `workstream 'core'` */
  readonly label: string;
  readonly useLoc: SourceLoc;
  readonly matrixLoc: SourceLoc;
  /** the workstream itself: the use site named by errors at template lines */
  readonly via: SourceLoc;
  /** its fields but use, with and matrix */
  readonly own: Located<Record<string, unknown>>;
  readonly matrix: Readonly<Record<string, readonly unknown[]>> | undefined;
}

/** one expanded workstream and the matrix combination that made it */
interface Made {
  readonly ws: Located<Record<string, unknown>>;
  readonly combo: readonly Given[];
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
    const base: Origin = { src: lw.src, path: lw.path };
    const site: WsSite = {
      lw,
      base,
      label: `workstream '${typeof data.id === 'string' ? data.id : (lw.defaultId ?? '?')}'`,
      useLoc: lw.src.loc([...lw.path, 'use']),
      matrixLoc: lw.src.loc([...lw.path, 'matrix']),
      via: lw.src.loc(lw.path),
      own: omitKeys({ value: data as Record<string, unknown>, origin: base }, USE_KEYS),
      matrix: isRecord(data.matrix) ? (data.matrix as Record<string, unknown[]>) : undefined,
    };
    let tpl: TemplateDef | undefined;
    if (typeof data.use === 'string') {
      tpl = this.lookup(data.use, { label: site.label, useLoc: site.useLoc }, undefined);
      if (!tpl) return [];
      this.used.add(tpl.id);
    }
    const localKeys = tpl ? this.localMatrixKeys(site, tpl) : new Set<string>();
    if (!localKeys) return [];
    const made: Made[] = [];
    for (const combo of site.matrix ? combinations(site.matrix, base) : [[]]) {
      const ws = tpl ? this.fromTemplate(site, tpl, combo, localKeys) : this.fromMatrix(site, combo);
      if (ws) made.push({ ws, combo });
    }
    return this.withoutDuplicates(site, made).flatMap(({ ws }) => {
      const src = new ExpandedSource(ws.value, ws.origin, lw.src, site.via);
      const schemaErrors = checkSchema('workstream', src, lw.defaultId);
      schemaErrors.forEach((d) => this.report(d));
      if (schemaErrors.length > 0) return [];
      return [
        {
          data: ws.value as RawWorkstream,
          src,
          path: [],
          ...(lw.defaultId !== undefined ? { defaultId: lw.defaultId } : {}),
          ...(tpl ? { template: tpl.id } : {}),
        },
      ];
    });
  }

  /**
   * With use:, the matrix keys that are no parameter of the template: they only fill the
   * workstream's own strings (e.g. with: { dir: "packages/{{pkg}}" }). One that fills nothing
   * is a typo: reported, and undefined returned.
   */
  private localMatrixKeys(site: WsSite, tpl: TemplateDef): Set<string> | undefined {
    const local = new Set(site.matrix ? Object.keys(site.matrix).filter((k) => !tpl.params.has(k)) : []);
    if (local.size === 0) return local;
    const used = placeholdersUsed([site.own.value, site.lw.data.with]);
    const unused = [...local].filter((k) => !used.has(k));
    for (const k of unused) {
      this.report(
        errorAt(
          'E_TEMPLATE_PARAM_UNKNOWN',
          `${site.label}: matrix key '${k}' is no parameter of template '${tpl.id}' (${formatLoc(tpl.idLoc)}) and no {{${k}}} of the workstream uses it${didYouMean(k, tpl.params.keys())}`,
          site.lw.src.loc([...site.lw.path, 'matrix', k], 'key'),
          `matrix keys are the template's parameters, or fill {{key}} in the workstream's own fields (its id, with: values); ${paramList(tpl)}`,
        ),
      );
    }
    return unused.length > 0 ? undefined : local;
  }

  /** one workstream from a template and one matrix combination ([] without a matrix) */
  private fromTemplate(site: WsSite, tpl: TemplateDef, combo: readonly Given[], localKeys: ReadonlySet<string>): Located<Record<string, unknown>> | undefined {
    const comboScope = scopeOf(combo);
    const withGiven = this.withValues(site, tpl, comboScope);
    const scope = this.bind(tpl, [...withGiven, ...combo.filter((g) => !localKeys.has(g.name))], { label: site.label, useLoc: site.useLoc }, undefined);
    if (!scope) return undefined;
    const body = this.instantiate(tpl, scope, [tpl.id], site.via);
    if (!body) return undefined;
    const ownScope = new Map([...scope, ...[...comboScope].filter(([k]) => localKeys.has(k))]);
    const where = `template '${tpl.id}' (${formatLoc(tpl.idLoc)})`;
    const why = site.matrix ? `neither ${where} nor the matrix defines it` : `${where} has no such parameter`;
    return mergeOver(body, this.substituteOwn(site.own, ownScope, why, tpl));
  }

  /** one workstream from a matrix combination, without a template */
  private fromMatrix(site: WsSite, combo: readonly Given[]): Located<Record<string, unknown>> {
    return this.substituteOwn(site.own, scopeOf(combo), `the matrix (${formatLoc(site.matrixLoc)}) has no such key`, undefined);
  }

  /** E_MATRIX_DUPLICATE for each workstream whose id an earlier combination already made */
  private withoutDuplicates(site: WsSite, made: readonly Made[]): Made[] {
    const { lw, matrix } = site;
    if (!matrix) return [...made];
    const firstBy = new Map<string, readonly Given[]>();
    const idLoc = lw.data.id !== undefined ? lw.src.loc([...lw.path, 'id']) : site.via;
    const written = typeof lw.data.id === 'string' ? lw.data.id.replace(/\{\{.*$/, '') : 'ws-';
    const example = `${written}${Object.keys(matrix)
      .map((k) => `{{${k}}}`)
      .join('-')}`;
    return made.filter(({ ws, combo }) => {
      const id = typeof ws.value['id'] === 'string' ? ws.value['id'] : lw.defaultId;
      if (id === undefined) return true;
      const first = firstBy.get(id);
      if (!first) {
        firstBy.set(id, combo);
        return true;
      }
      this.report(
        errorAt(
          'E_MATRIX_DUPLICATE',
          `the matrix (${formatLoc(site.matrixLoc)}) makes workstream '${id}' twice: for ${describeCombo(first)} and for ${describeCombo(combo)}`,
          idLoc,
          `put every matrix key into the id, e.g. id: "${example}", and give each key distinct values`,
        ),
      );
      return false;
    });
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

  /** with: values, each filled from the matrix combination (so with: { x: "{{k}}" } works) */
  private withValues(site: WsSite, tpl: TemplateDef, comboScope: Scope): Given[] {
    const w = site.lw.data.with;
    if (!isRecord(w)) return [];
    const origin = childOrigin(site.base, 'with');
    return Object.entries(w).map(([name, raw]) => {
      const o = childOrigin(origin, name);
      const problems: SubstProblem[] = [];
      const r = substitute({ value: raw, origin: o }, comboScope, problems);
      this.reportProblems(
        problems,
        (p) =>
          `${site.label}: with.${name} uses {{${p.name}}}, which ${site.matrix ? `the matrix (${formatLoc(site.matrixLoc)}) does not define` : 'nothing defines: there is no matrix'} (template '${tpl.id}' at ${formatLoc(tpl.idLoc)})`,
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

function scopeOf(given: readonly Given[]): Scope {
  return new Map(given.map((g) => [g.name, { value: g.value as ParamValue, origin: g.origin }]));
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
