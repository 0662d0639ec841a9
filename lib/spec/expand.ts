/**
 * The seam where raw workstreams are expanded before normalisation. Templates (`use:`,
 * `with:`, `matrix:`; SPEC 1.5) will be expanded here: one located workstream in, any number
 * out, each keeping a location for its errors (the use site; the template line as well).
 *
 * For now nothing is expanded: workstreams pass through as written (the schema accepts
 * use/with/matrix; they are kept in WorkstreamSpec.extra).
 */
import type { Diagnostic } from './diagnostic.js';
import type { LocatedWorkstream } from './raw.js';

export interface ExpandContext {
  /** root-relative paths of the project's template files (config `templates:` globs) */
  readonly templateFiles: readonly string[];
}

export function expandWorkstreams(
  workstreams: readonly LocatedWorkstream[],
  _ctx: ExpandContext,
): { workstreams: LocatedWorkstream[]; errors: Diagnostic[] } {
  return { workstreams: [...workstreams], errors: [] };
}
