/**
 * `uet validate [--expand]`: load, check and compile everything, always from the YAML (no
 * graph cache). `--expand` prints every workstream as YAML after template expansion (one
 * document each, headed by a comment naming its phase, its place and its template) on
 * stdout; the summary then goes to stderr, so that stdout stays parsable YAML.
 */
import { stringify } from 'yaml';
import { formatLoc } from '../spec/diagnostic.js';
import type { ExpandedWorkstream } from '../spec/load.js';
import type { Io } from './context.js';
import { EXIT_OK, openProject, printDiagnostics, specFailed } from './context.js';

export async function validateCommand(io: Io, opts: { dir?: string; expand?: boolean }): Promise<number> {
  const opened = await openProject(io, opts.dir, { useGraphCache: false, keepExpanded: opts.expand === true });
  if (!opened.ok) return specFailed(io, opened.error);
  await opened.value.hasher.flush();
  const { spec } = opened.value.loaded.project;
  printDiagnostics(io, opened.value.loaded.warnings);
  if (opts.expand) io.stdout.write(renderExpanded(opened.value.loaded.expanded ?? []));
  const workstreams = spec.phases.reduce((n, p) => n + p.workstreams.length, 0);
  const tasks = spec.phases.reduce((n, p) => n + p.workstreams.reduce((m, w) => m + w.tasks.length, 0), 0);
  const gates = spec.phases.reduce((n, p) => n + p.gates.length, 0);
  const summary = `ok: ${spec.phases.length} phases, ${workstreams} workstreams, ${tasks} tasks, ${gates} gates\n`;
  (opts.expand ? io.stderr : io.stdout).write(summary);
  return EXIT_OK;
}

/** every workstream as a YAML document, by phase id then as written */
export function renderExpanded(expanded: readonly ExpandedWorkstream[]): string {
  const sorted = [...expanded].map((w, i) => ({ w, i })).sort((a, b) => (a.w.phase < b.w.phase ? -1 : a.w.phase > b.w.phase ? 1 : a.i - b.i));
  return sorted
    .map(({ w }) => {
      const from = w.template !== undefined ? `, from template ${w.template}` : '';
      // the id first, as people write it
      const { id: _written, ...rest } = w.data;
      return `---\n# ${w.phase}/${w.id} (${formatLoc(w.loc)}${from})\n${stringify({ id: w.id, ...rest }, { lineWidth: 0 })}`;
    })
    .join('');
}
