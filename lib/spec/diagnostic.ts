/**
 * Every problem uet reports about a spec has a stable code (users grep for them and
 * scripts match on them: never rename one), a location and a hint.
 */
export type ErrorCode =
  | 'E_CONFIG_NOT_FOUND' // no uet.config.yaml in this folder or any parent
  | 'E_READ' // a spec file could not be read
  | 'E_YAML' // YAML syntax error
  | 'E_SCHEMA' // JSON Schema violation (wrong type, unknown key, missing key, bad pattern)
  | 'E_DUPLICATE_ID' // two phases / workstreams / tasks / gates with one id
  | 'E_UNKNOWN_DEP' // depends_on names nothing
  | 'E_UNKNOWN_PHASE' // a phase file's phase id, or phase depends_on, names no phase
  | 'E_UNKNOWN_TOOL' // tool: or fix: names no tool in the config
  | 'E_UNKNOWN_TARGET' // a command-line target names nothing
  | 'E_GATE_NEEDS' // a gate's needs match no task
  | 'E_CYCLE' // the graph has a cycle; the message prints its path
  | 'E_GLOB_OUTSIDE_ROOT' // a glob, cwd or path leaves the project root
  | 'E_NO_ACTION' // a task with neither run, tool nor patches
  | 'E_SCOPE_CONFLICT' // two workstreams that may run at once write overlapping files
  | 'E_NOT_A_REPO' // a workstream with isolation: worktree in a project that is not in a git repository
  | 'E_POLICY_WEAKENED' // a phase's or workstream's patch_policy loosens the level above
  | 'E_USAGE' // the command line is wrong
  | 'E_UNKNOWN_TEMPLATE' // use: names no template of the project nor of uet
  | 'E_TEMPLATE_PARAM_MISSING' // a required template parameter was not given
  | 'E_TEMPLATE_PARAM_UNKNOWN' // with: (or matrix:) names a parameter the template does not declare
  | 'E_TEMPLATE_PARAM_TYPE' // a parameter value is not of the declared type
  | 'E_TEMPLATE_UNDEFINED' // a {{name}} that no parameter (or matrix key) defines
  | 'E_MATRIX_DUPLICATE' // a matrix expands to two workstreams with one id
  | 'E_TEMPLATE_RECURSION'; // a template uses itself, directly or through others

export type WarningCode = 'W_UNUSED_GATE' | 'W_EMPTY_PHASE' | 'W_SCOPE_OVERLAP_SERIAL' | 'W_GROUP_STALL' | 'W_TEMPLATE_SHADOWS_BUILTIN';

export interface SourceLoc {
  /** root-relative path, forward slashes */
  readonly file: string;
  /** 1-based */
  readonly line: number;
  /** 1-based */
  readonly col: number;
  /**
   * For a place inside a template: the use site (the workstream with `use:`) it was expanded
   * for, so that a problem names both places.
   */
  readonly via?: SourceLoc;
}

/** `file:line:col` */
export function formatLoc(l: SourceLoc): string {
  return `${l.file}:${l.line}:${l.col}`;
}

export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly code: ErrorCode | WarningCode;
  readonly message: string;
  readonly loc?: SourceLoc;
  readonly hint?: string;
}

/** `phases/phase-2.yaml:14:9 E_UNKNOWN_DEP task 'parser/test' depends on 'compil' (did you mean 'compile'?)` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.loc ? `${formatLoc(d.loc)} ` : '';
  const via = d.loc?.via ? ` (in the template used at ${formatLoc(d.loc.via)})` : '';
  const hint = d.hint ? `\n  hint: ${d.hint}` : '';
  return `${where}${d.code} ${d.message}${via}${hint}`;
}

export function errorAt(code: ErrorCode, message: string, loc?: SourceLoc, hint?: string): Diagnostic {
  return { severity: 'error', code, message, ...(loc ? { loc } : {}), ...(hint ? { hint } : {}) };
}
