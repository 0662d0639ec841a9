/**
 * The spec loader: uet.config.yaml, phase files and workstream files -> a checked,
 * normalised ProjectSpec, or every error found (each with a code, a location and a hint).
 *
 * Pipeline: read config -> discover files -> parse YAML (positions kept) -> JSON Schema ->
 * [syntax or schema errors stop here] -> expand workstreams (the templates seam) ->
 * normalise (defaults, tools, env, globs, duplicate ids) -> resolve references and gate needs.
 */
import { join, posix, resolve as resolvePath } from 'node:path';
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import type { ConfigSpec, ProjectSpec } from './model.js';
import { byteCompare } from '../util/byte-compare.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { buildPhase, normaliseConfig } from './normalise.js';
import type { PhaseB } from './normalise.js';
import type { LocatedPhase, LocatedWorkstream, RawPhase, RawWorkstream } from './raw.js';
import { indexPhases, resolveAll } from './resolve.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { TemplateDef } from './templates.js';
import type { SpecSource } from './yaml-source.js';

import { CONFIG_FILE } from './project-root.js';
import { discover, specFilesOf, YAML_EXT } from './spec-files.js';

export interface LoadedProject {
  spec: ProjectSpec;
  warnings: Diagnostic[];
  /** every workstream as data after template expansion, by phase id (for `uet validate --expand`) */
  expanded: ExpandedWorkstream[];
}

/** one workstream as it reads after template expansion */
export interface ExpandedWorkstream {
  readonly phase: string;
  /** its id (a workstream file's name when the data has none) */
  readonly id: string;
  /** where it is written (the use site) */
  readonly loc: SourceLoc;
  /** the template it was made from, if any */
  readonly template?: string;
  readonly data: RawWorkstream;
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const la = a.d.loc;
      const lb = b.d.loc;
      if (la && lb) {
        if (la.file !== lb.file) return byteCompare(la.file, lb.file);
        if (la.line !== lb.line) return la.line - lb.line;
        if (la.col !== lb.col) return la.col - lb.col;
      } else if (la || lb) return la ? 1 : -1;
      return a.i - b.i;
    })
    .map((x) => x.d);
}

/** the config's phases/templates globs, even from a config that failed its schema */
function globsOr(v: unknown, dflt: readonly string[]): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return [...dflt];
}

/** read + check everything; ALL errors collected (not just the first), each with loc+code+hint */
export async function loadProject(rootDir: string): Promise<Result<LoadedProject, Diagnostic[]>> {
  const root = resolvePath(rootDir);
  /** syntax and schema errors: when there are any, the semantic checks are skipped */
  const errors: Diagnostic[] = [];
  const semantic: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const out = { errors: semantic, warnings };

  // The YAML parser, the schema checker (ajv) and the template expander are loaded only here:
  // a build whose compiled-graph cache is valid never parses a spec, and they cost ~60 ms to load.
  const [{ checkSchema }, { readSpecFile }, { checkUnusedTemplate, expandWorkstreams }, { builtinTemplates, indexTemplates, TemplateRegistry, templateFromFile }] =
    await Promise.all([import('./schema-check.js'), import('./yaml-source.js'), import('./expand.js'), import('./templates.js')]);

  // 1. config
  const cfgFile = await readSpecFile(root, CONFIG_FILE);
  if (!cfgFile.ok) return err(cfgFile.errors);
  const cfgSrc = cfgFile.src;
  const cfgErrors = checkSchema('config', cfgSrc);
  errors.push(...cfgErrors);
  const cfgData = (cfgSrc.data ?? {}) as Record<string, unknown>;
  const config: ConfigSpec | undefined = cfgErrors.length === 0 ? normaliseConfig(root, cfgSrc, out) : undefined;
  const globs = config ?? {
    phases: globsOr(cfgData['phases'], CONFIG_DEFAULTS.phases),
    templates: globsOr(cfgData['templates'], CONFIG_DEFAULTS.templates),
  };

  // 2. discover and parse every file; syntax and schema errors of all files together
  const found = await discover(root, globs);
  const located = await Promise.all(
    found.phases.map(async (p): Promise<LocatedPhase | undefined> => {
      const [pf, ...wfs] = await Promise.all([readSpecFile(root, p.file), ...p.wsFiles.map((f) => readSpecFile(root, f))]);
      let bad = false;
      let src: SpecSource | undefined;
      if (!pf!.ok) {
        errors.push(...pf!.errors);
        bad = true;
      } else {
        src = pf!.src;
        const es = checkSchema('phase', src);
        if (es.length > 0) {
          errors.push(...es);
          bad = true;
        }
      }
      const fileWs: LocatedWorkstream[] = [];
      wfs.forEach((wf, i) => {
        if (!wf.ok) {
          errors.push(...wf.errors);
          bad = true;
          return;
        }
        const defaultId = posix.basename(p.wsFiles[i]!).replace(YAML_EXT, '');
        const es = checkSchema('workstream', wf.src, defaultId);
        if (es.length > 0) {
          errors.push(...es);
          bad = true;
          return;
        }
        fileWs.push({ data: wf.src.data as RawWorkstream, src: wf.src, path: [], defaultId });
      });
      if (bad || !src) return undefined;
      const data = src.data as RawPhase;
      const inline: LocatedWorkstream[] = (data.workstreams ?? []).map((w, i) => ({ data: w, src: src!, path: ['workstreams', i] }));
      return { data, src, stem: p.stem, workstreams: [...inline, ...fileWs] };
    }),
  );
  // (uet's own repository: its templates/ folder holds the built-ins, not project templates)
  const builtins = builtinTemplates();
  const builtinPaths = new Set(builtins.values());
  const projectTemplates = found.templates.filter((f) => !builtinPaths.has(join(root, f)));
  const templateDefs: TemplateDef[] = [];
  for (const parsed of await Promise.all(projectTemplates.map((f) => readSpecFile(root, f)))) {
    const t = templateFromFile(parsed);
    errors.push(...t.errors);
    if (t.def) templateDefs.push(t.def);
  }
  if (errors.length > 0 || !config) return err(sortDiagnostics(errors));

  // 3. expand templates, normalise, resolve
  const templates = new TemplateRegistry(indexTemplates(templateDefs, [...builtins.keys()], out), builtins, (d) => semantic.push(d));
  const built: PhaseB[] = [];
  const expanded: ExpandedWorkstream[] = [];
  const used = new Set<string>();
  for (const lp of located) {
    if (!lp) continue;
    const ex = expandWorkstreams(lp.workstreams, { templates });
    semantic.push(...ex.errors);
    for (const t of ex.used) used.add(t);
    const pb = buildPhase(lp, ex.workstreams, { config, out });
    if (!pb) continue;
    built.push(pb);
    for (const w of ex.workstreams) {
      expanded.push({ phase: pb.spec.id, id: w.data.id ?? w.defaultId ?? '', loc: w.src.loc(w.path), ...(w.template !== undefined ? { template: w.template } : {}), data: w.data });
    }
  }
  for (const t of templateDefs) if (!used.has(t.id)) semantic.push(...checkUnusedTemplate(t));
  const byId = indexPhases(built, out);
  resolveAll(byId, out);
  if (semantic.length > 0) return err(sortDiagnostics(semantic));

  const phases = [...byId.values()].map((p) => p.spec).sort((a, b) => byteCompare(a.id, b.id));
  return ok({
    spec: { root, config, phases, specFiles: specFilesOf(found) },
    warnings: sortDiagnostics(warnings),
    expanded,
  });
}
