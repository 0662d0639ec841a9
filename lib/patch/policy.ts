/**
 * Patch policy: limits layered config -> phase -> workstream, where a lower level may only
 * tighten what the level above allows (a looser value is a spec error, E_POLICY_WEAKENED,
 * reported by the loader with the line). Pure.
 */

export interface PatchPolicy {
  /** most files one patch may touch; undefined = no limit */
  readonly maxFilesChanged: number | undefined;
  /** most added + removed lines of one patch; undefined = no limit */
  readonly maxLinesChanged: number | undefined;
  readonly forbidBinary: boolean;
  /** globs no patch may touch (every level's, together) */
  readonly forbidPaths: readonly string[];
  readonly oscillation: { readonly window: number; readonly threshold: number };
}

/** The policy as written at one level (snake_case, as in the YAML; already schema-checked). */
export interface RawPatchPolicy {
  readonly max_files_changed?: number;
  readonly max_lines_changed?: number;
  readonly forbid_binary?: boolean;
  readonly forbid_paths?: readonly string[];
  readonly oscillation?: { readonly window?: number; readonly threshold?: number };
}

/** What applies when nobody says otherwise: no binary, never inside .git, oscillation 2 in 4. */
export const DEFAULT_PATCH_POLICY: PatchPolicy = {
  maxFilesChanged: undefined,
  maxLinesChanged: undefined,
  forbidBinary: true,
  forbidPaths: ['.git/**', '.uet/**'],
  oscillation: { window: 4, threshold: 2 },
};

export function asRawPolicy(v: unknown): RawPatchPolicy {
  return v !== null && typeof v === 'object' ? (v as RawPatchPolicy) : {};
}

/** Narrow `upper` by one lower level (values that would loosen it are reported by policyWeakenings). */
export function narrowPolicy(upper: PatchPolicy, lower: RawPatchPolicy): PatchPolicy {
  const min = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
  return {
    maxFilesChanged: min(upper.maxFilesChanged, lower.max_files_changed),
    maxLinesChanged: min(upper.maxLinesChanged, lower.max_lines_changed),
    forbidBinary: upper.forbidBinary || lower.forbid_binary === true,
    forbidPaths: [...new Set([...upper.forbidPaths, ...(lower.forbid_paths ?? [])])],
    oscillation: {
      window: Math.max(upper.oscillation.window, lower.oscillation?.window ?? 0),
      threshold: Math.min(upper.oscillation.threshold, lower.oscillation?.threshold ?? Infinity),
    },
  };
}

/** The config's level: it sets the defaults, so it may loosen uet's own (allow binary, say). */
export function configPolicy(config: unknown): PatchPolicy {
  const c = asRawPolicy(config);
  const d = DEFAULT_PATCH_POLICY;
  return {
    maxFilesChanged: c.max_files_changed,
    maxLinesChanged: c.max_lines_changed,
    forbidBinary: c.forbid_binary ?? d.forbidBinary,
    forbidPaths: [...new Set([...d.forbidPaths, ...(c.forbid_paths ?? [])])],
    oscillation: { window: c.oscillation?.window ?? d.oscillation.window, threshold: c.oscillation?.threshold ?? d.oscillation.threshold },
  };
}

/** config -> phase -> workstream */
export function effectivePolicy(config: unknown, phase: unknown, workstream: unknown): PatchPolicy {
  return narrowPolicy(narrowPolicy(configPolicy(config), asRawPolicy(phase)), asRawPolicy(workstream));
}

export interface Weakening {
  /** the key path under patch_policy, e.g. ['max_lines_changed'] or ['oscillation', 'window'] */
  readonly key: readonly string[];
  readonly detail: string;
}

/** Every value of `lower` that would loosen `upper`. */
export function policyWeakenings(upper: PatchPolicy, lower: RawPatchPolicy, upperName: string): Weakening[] {
  const out: Weakening[] = [];
  const limit = (key: 'max_files_changed' | 'max_lines_changed', up: number | undefined): void => {
    const v = lower[key];
    if (v !== undefined && up !== undefined && v > up) out.push({ key: [key], detail: `${key}: ${v} loosens the ${upperName}'s ${up}` });
  };
  limit('max_files_changed', upper.maxFilesChanged);
  limit('max_lines_changed', upper.maxLinesChanged);
  if (lower.forbid_binary === false && upper.forbidBinary) out.push({ key: ['forbid_binary'], detail: `forbid_binary: false loosens the ${upperName}'s true` });
  const o = lower.oscillation;
  if (o?.threshold !== undefined && o.threshold > upper.oscillation.threshold) {
    out.push({ key: ['oscillation', 'threshold'], detail: `oscillation.threshold: ${o.threshold} loosens the ${upperName}'s ${upper.oscillation.threshold}` });
  }
  if (o?.window !== undefined && o.window < upper.oscillation.window) {
    out.push({ key: ['oscillation', 'window'], detail: `oscillation.window: ${o.window} loosens the ${upperName}'s ${upper.oscillation.window} (a shorter window trips later)` });
  }
  return out;
}
