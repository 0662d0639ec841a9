/** `uet validate`: load, check and compile everything, always from the YAML (no graph cache). */
import type { Io } from './context.js';
import { EXIT_OK, openProject, printDiagnostics, specFailed } from './context.js';

export async function validateCommand(io: Io, opts: { dir?: string }): Promise<number> {
  const opened = await openProject(io, opts.dir, { useGraphCache: false });
  if (!opened.ok) return specFailed(io, opened.error);
  await opened.value.hasher.flush();
  const { spec } = opened.value.loaded.project;
  printDiagnostics(io, opened.value.loaded.warnings);
  const workstreams = spec.phases.reduce((n, p) => n + p.workstreams.length, 0);
  const tasks = spec.phases.reduce((n, p) => n + p.workstreams.reduce((m, w) => m + w.tasks.length, 0), 0);
  const gates = spec.phases.reduce((n, p) => n + p.gates.length, 0);
  io.stdout.write(`ok: ${spec.phases.length} phases, ${workstreams} workstreams, ${tasks} tasks, ${gates} gates\n`);
  return EXIT_OK;
}
