/**
 * The shapes of spec data after the JSON Schema accepted it, before normalisation
 * (snake_case keys, as users write them), and where each piece came from.
 */
import type { TaskKind } from './model.js';
import type { Locator, Path, SpecSource } from './yaml-source.js';

export type StringOrList = string | readonly string[];

export interface RawEnv {
  readonly pass?: readonly string[];
  readonly hash?: readonly string[];
  readonly set?: Readonly<Record<string, string | number | boolean>>;
}

export type RawScope =
  | readonly string[]
  | { readonly read?: StringOrList; readonly write?: StringOrList; readonly create?: StringOrList; readonly forbidden?: StringOrList };

export interface RawTask {
  readonly id: string;
  readonly kind?: TaskKind;
  readonly run?: string;
  readonly tool?: string;
  readonly args?: string | readonly (string | number | boolean)[];
  readonly patches?: StringOrList;
  readonly inputs?: StringOrList;
  readonly outputs?: StringOrList;
  readonly depends_on?: StringOrList;
  readonly env?: RawEnv;
  readonly cwd?: string;
  readonly retries?: number;
  readonly retry_delay?: string | number;
  readonly timeout?: string | number;
  readonly cache?: boolean;
  readonly clean?: boolean | 'true' | 'false' | 'if-file-deleted';
  readonly fix?: string;
}

export interface RawWorkstream {
  readonly id?: string;
  readonly name?: string;
  readonly depends_on?: StringOrList;
  readonly files_scope?: RawScope;
  readonly conflict_group?: string;
  readonly parallel_ok?: boolean;
  readonly order?: 'edit-static-runtime' | 'none';
  readonly isolation?: 'none' | 'worktree';
  readonly circuit_breaker?: Readonly<Record<string, unknown>>;
  readonly tasks?: readonly RawTask[];
  readonly [extra: string]: unknown;
}

export interface RawGate {
  readonly id: string;
  readonly type?: 'lint' | 'unit' | 'integration' | 'security' | 'custom';
  readonly needs?: { readonly kind: TaskKind } | StringOrList;
  readonly run?: string;
  readonly blocking?: boolean;
  readonly depends_on?: StringOrList;
}

export interface RawPhase {
  readonly id?: string;
  readonly name?: string;
  readonly depends_on?: StringOrList;
  readonly max_parallel?: number;
  readonly files_scope?: RawScope;
  readonly patch_policy?: Readonly<Record<string, unknown>>;
  readonly gates?: readonly RawGate[];
  readonly workstreams?: readonly RawWorkstream[];
}

export interface RawTool {
  readonly run: string;
  readonly version?: string;
  readonly produces?: 'patch';
  readonly timeout?: string | number;
}

export interface RawConfig {
  readonly version: 1;
  readonly project?: string;
  readonly phases?: StringOrList;
  readonly templates?: StringOrList;
  readonly default?: StringOrList;
  readonly concurrency?: number | 'auto';
  readonly shell?: string;
  readonly env?: RawEnv;
  readonly cache?: {
    readonly dir?: string;
    readonly max_size?: string | number;
    readonly max_age?: string | number;
    readonly remote?: { readonly url?: string; readonly read?: boolean; readonly write?: boolean; readonly timeout?: string | number };
  };
  readonly tools?: Readonly<Record<string, RawTool>>;
  readonly patch_policy?: Readonly<Record<string, unknown>>;
  readonly circuit_breaker?: Readonly<Record<string, unknown>>;
  readonly watch?: Readonly<Record<string, unknown>>;
}

/** a raw workstream and where it is: its file and its path inside that file */
export interface LocatedWorkstream {
  readonly data: RawWorkstream;
  /** its file; after template expansion, a locator that maps each value to where it was written */
  readonly src: Locator;
  readonly path: Path;
  /** the id when the data has none: a workstream file's name */
  readonly defaultId?: string;
  /** the template it was made from (use:), once expanded */
  readonly template?: string;
}

/** a phase file, parsed and schema-checked, with its workstream files */
export interface LocatedPhase {
  readonly data: RawPhase;
  readonly src: SpecSource;
  /** the file name without .yaml: the default id and the name of its workstream folder */
  readonly stem: string;
  readonly workstreams: readonly LocatedWorkstream[];
}

export function asList(v: StringOrList | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}
