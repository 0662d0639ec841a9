/**
 * Template definitions (SPEC 1.5): the project's template files (config `templates:` globs)
 * and the built-in ones shipped in uet's own `templates/` folder, parsed, schema-checked and
 * indexed by id. A project template with a built-in's id wins, with a warning. Built-ins are
 * read only when a workstream asks for one the project does not define.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import { errorAt, formatLoc } from './diagnostic.js';
import { checkSchema } from './schema-check.js';
import type { ParsedFile, SpecSource } from './yaml-source.js';
import { parseSpecText } from './yaml-source.js';

export type ParamType = 'string' | 'number' | 'boolean' | 'list';

/** a parameter value: what YAML gives for the four types */
export type ParamValue = string | number | boolean | readonly unknown[];

export interface ParamDef {
  readonly name: string;
  readonly type: ParamType;
  /** absent: the parameter is required */
  readonly default?: ParamValue;
  readonly description?: string;
  /** where it is declared (its key under params:) */
  readonly loc: SourceLoc;
}

export interface TemplateDef {
  readonly id: string;
  readonly description?: string;
  /** in the order written */
  readonly params: ReadonlyMap<string, ParamDef>;
  /** the body as written; its paths start at ['body'] in src */
  readonly body: Readonly<Record<string, unknown>>;
  readonly src: SpecSource;
  readonly idLoc: SourceLoc;
}

interface RawTemplate {
  readonly id: string;
  readonly description?: string;
  readonly params?: Readonly<Record<string, { type: ParamType; default?: ParamValue; description?: string }>>;
  readonly body: Readonly<Record<string, unknown>>;
}

/** How the file of a built-in template is named in messages (it is not in the project). */
export const BUILTIN_PREFIX = '<uet>/templates/';

/** built-in template id -> absolute path of its file */
export type BuiltinTemplates = ReadonlyMap<string, string>;

/** uet's built-in templates: the YAML files of `templates/` at the package root, by id (file name) */
export function builtinTemplates(): BuiltinTemplates {
  const dir = builtinTemplateDir();
  const files = new Map<string, string>();
  if (!dir) return files;
  for (const f of readdirSync(dir).sort()) if (/\.ya?ml$/.test(f)) files.set(f.replace(/\.ya?ml$/, ''), join(dir, f));
  return files;
}

function builtinTemplateDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** parse and check one template file; the definition, or its errors */
export function templateFromFile(parsed: ParsedFile): { def?: TemplateDef; errors: Diagnostic[] } {
  if (!parsed.ok) return { errors: parsed.errors };
  const src = parsed.src;
  const errors = checkSchema('template', src);
  if (errors.length > 0) return { errors };
  const raw = src.data as RawTemplate;
  const params = new Map<string, ParamDef>();
  for (const [name, p] of Object.entries(raw.params ?? {})) {
    params.set(name, {
      name,
      type: p.type,
      ...(p.default !== undefined ? { default: p.default } : {}),
      ...(p.description !== undefined ? { description: p.description } : {}),
      loc: src.loc(['params', name], 'key'),
    });
  }
  return {
    def: {
      id: raw.id,
      ...(raw.description !== undefined ? { description: raw.description } : {}),
      params,
      body: raw.body,
      src,
      idLoc: src.loc(['id']),
    },
    errors: [],
  };
}

/**
 * The templates a project can use: its own (already parsed) and, on demand, uet's built-ins.
 */
export class TemplateRegistry {
  private readonly builtins = new Map<string, TemplateDef | null>();

  constructor(
    private readonly project: ReadonlyMap<string, TemplateDef>,
    private readonly builtinFiles: BuiltinTemplates,
    /** errors in a built-in template (a bug of uet, but reported like any other) */
    private readonly onBuiltinError: (d: Diagnostic) => void,
  ) {}

  /** ids of the built-in templates (their file names) */
  builtinIds(): string[] {
    return [...this.builtinFiles.keys()];
  }

  get(id: string): TemplateDef | undefined {
    return this.project.get(id) ?? this.builtin(id);
  }

  /** every id a use: may name, project ones first */
  ids(): string[] {
    return [...new Set([...this.project.keys(), ...this.builtinFiles.keys()])];
  }

  private builtin(id: string): TemplateDef | undefined {
    const known = this.builtins.get(id);
    if (known !== undefined) return known ?? undefined;
    const file = this.builtinFiles.get(id);
    let def: TemplateDef | undefined;
    if (file) {
      const r = templateFromFile(parseSpecText(`${BUILTIN_PREFIX}${basename(file)}`, readFileSync(file, 'utf8')));
      r.errors.forEach(this.onBuiltinError);
      def = r.def;
    }
    this.builtins.set(id, def ?? null);
    return def;
  }
}

/**
 * Index the project's templates by id: duplicate ids are errors (both places named); a
 * template with a built-in's id shadows it, with a warning.
 */
export function indexTemplates(
  defs: readonly TemplateDef[],
  builtinIds: readonly string[],
  out: { errors: Diagnostic[]; warnings: Diagnostic[] },
): Map<string, TemplateDef> {
  const byId = new Map<string, TemplateDef>();
  for (const d of defs) {
    const prev = byId.get(d.id);
    if (prev) {
      out.errors.push(
        errorAt('E_DUPLICATE_ID', `template id '${d.id}' is used twice (first at ${formatLoc(prev.idLoc)})`, d.idLoc, 'template ids must be unique in the project: rename one'),
      );
      continue;
    }
    byId.set(d.id, d);
    if (builtinIds.includes(d.id)) {
      out.warnings.push({
        severity: 'warning',
        code: 'W_TEMPLATE_SHADOWS_BUILTIN',
        message: `template '${d.id}' replaces the built-in template of that id (${BUILTIN_PREFIX}${d.id}.yaml)`,
        loc: d.idLoc,
        hint: 'this project template is used wherever use: names it; rename it to use the built-in one as well',
      });
    }
  }
  return byId;
}
