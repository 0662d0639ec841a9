/**
 * The summary line every build ends with. Its own module because the no-op fast path prints
 * it too, and that path must not load the build machinery.
 */
import type { BuildOutcome } from '../build/runner.js';
import type { CompiledProject } from '../graph/project.js';

/** What the summary line calls the targets. */
export function targetLabel(project: CompiledProject, targets: readonly string[]): string {
  return targets.length > 0 ? targets.join(' ') : project.spec.config.default.length > 0 ? project.spec.config.default.join(' ') : project.spec.config.project;
}

/** `phase-3: 42 tasks — 30 fresh, 2 restored, 10 ran, 0 failed (3.2 s)` */
export function summaryLine(label: string, taskCount: number, outcome: BuildOutcome, durationMs: number, dryRun: boolean): string {
  const c = outcome.counts;
  const extra = [c.blocked > 0 ? `${c.blocked} blocked` : '', c.skipped > 0 ? `${c.skipped} skipped` : '', outcome.gatesFailed.length > 0 ? `gate${outcome.gatesFailed.length > 1 ? 's' : ''} failed: ${outcome.gatesFailed.map((g) => g.split('/').pop()).join(', ')}` : '', outcome.integrationFailed.length > 0 ? `integration failed: ${outcome.integrationFailed.join(', ')}` : '']
    .filter(Boolean)
    .map((s) => `, ${s}`)
    .join('');
  const verbs = dryRun ? `${c.fresh} fresh, ${c.restored} to restore, ${c.ran} to run` : `${c.fresh} fresh, ${c.restored} restored, ${c.ran} ran, ${c.failed} failed`;
  return `${label}: ${taskCount} task${taskCount === 1 ? '' : 's'} — ${verbs}${extra} (${(durationMs / 1000).toFixed(1)} s)${dryRun ? ' [dry run]' : ''}`;
}
