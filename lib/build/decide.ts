/**
 * Freshness: the decision for one task, as data. Pure: the caller gathers the facts.
 * "Why did this rebuild" is this decision's `reason`, recorded in the run's events.
 */
import type { OutputFile, SuccessRecord } from '../cache/types.js';
import type { FileDigest } from '../hash/types.js';

export type Decision =
  | { readonly action: 'fresh'; readonly reason: string }
  | { readonly action: 'run'; readonly reason: string; readonly cacheable: boolean };

export interface FreshnessFacts {
  readonly force: boolean;
  /** undefined when the task declares no inputs (it always runs) */
  readonly key: string | undefined;
  readonly record: SuccessRecord | undefined;
  /** current state of the recorded outputs, by path (only consulted when the keys match) */
  readonly outputsOnDisk: ReadonlyMap<string, FileDigest | null>;
  /** a dependency that would run in a dry run: the key cannot be known yet */
  readonly upstreamUnknown?: string;
}

export function decideFreshness(f: FreshnessFacts): Decision {
  if (f.upstreamUnknown !== undefined) return { action: 'run', reason: `upstream ${f.upstreamUnknown} would run`, cacheable: false };
  if (f.key === undefined) return { action: 'run', reason: 'declares no inputs, so it always runs', cacheable: false };
  if (f.force) return { action: 'run', reason: '--force', cacheable: true };
  if (!f.record) return { action: 'run', reason: 'never built', cacheable: true };
  if (f.record.key !== f.key) return { action: 'run', reason: 'key changed', cacheable: true };
  const drift = outputDrift(f.record.outputs, f.outputsOnDisk);
  if (drift) return { action: 'run', reason: drift, cacheable: true };
  return { action: 'fresh', reason: 'key and outputs unchanged' };
}

/** Describes the first recorded output that no longer matches what is on disk. */
export function outputDrift(recorded: readonly OutputFile[], onDisk: ReadonlyMap<string, FileDigest | null>): string | undefined {
  for (const o of recorded) {
    const now = onDisk.get(o.path);
    if (!now) return `output ${o.path} deleted`;
    if (now.hash !== o.hash) return `output ${o.path} modified`;
    if (now.mode !== o.mode) return `output ${o.path} mode changed`;
  }
  return undefined;
}
