/**
 * The checked, normalised form of a uet project, as the spec loader hands it to the graph
 * compiler. Everything here is plain data (JSON-serialisable) so that it can be cached
 * as part of the compiled graph. Defaults are already applied; every reference that the
 * loader could resolve is resolved to a full id.
 */
import type { SourceLoc } from './diagnostic.js';

export type TaskKind = 'edit' | 'static' | 'runtime' | 'build';
export const TASK_KINDS: readonly TaskKind[] = ['edit', 'static', 'runtime', 'build'];

export type CleanMode = 'true' | 'if-file-deleted' | 'false';

export interface EnvSpec {
  /** names of variables handed to tasks, not part of keys */
  readonly pass: readonly string[];
  /** names of variables handed to tasks AND hashed into keys (values never stored) */
  readonly hash: readonly string[];
  /** fixed values, handed to tasks and part of keys */
  readonly set: Readonly<Record<string, string>>;
}

export interface ToolSpec {
  readonly name: string;
  /** command template; {cwd} {task} {log} are substituted */
  readonly run: string;
  /** a command whose output joins the key of every task that uses the tool */
  readonly version?: string;
  readonly produces?: 'patch';
  /** milliseconds */
  readonly timeout?: number;
  readonly loc: SourceLoc;
}

export interface FilesScope {
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly create: readonly string[];
  readonly forbidden: readonly string[];
}

export interface RemoteCacheSpec {
  readonly url: string;
  readonly read: boolean;
  readonly write: boolean;
  /** milliseconds */
  readonly timeout: number;
}

export interface ConfigSpec {
  readonly version: 1;
  readonly project: string;
  /** globs (root-relative) of phase files */
  readonly phases: readonly string[];
  /** globs of template files (templates issue) */
  readonly templates: readonly string[];
  /** targets of a bare `uet build`; empty = every phase */
  readonly default: readonly string[];
  /** 'auto' = os.availableParallelism() */
  readonly concurrency: number | 'auto';
  readonly shell: string;
  readonly env: EnvSpec;
  readonly cache: {
    /** root-relative */
    readonly dir: string;
    /** bytes, when set */
    readonly maxSize?: number;
    /** milliseconds, when set */
    readonly maxAge?: number;
    readonly remote?: RemoteCacheSpec;
  };
  readonly tools: Readonly<Record<string, ToolSpec>>;
  /** kept as written for the patch issue; validated by the schema only */
  readonly patchPolicy?: Readonly<Record<string, unknown>>;
  readonly circuitBreaker?: Readonly<Record<string, unknown>>;
  readonly watch?: Readonly<Record<string, unknown>>;
}

/**
 * A reference after resolution. `ws` and `phase` refs are expanded by the compiler
 * (a dependency on a workstream is a dependency on each of its tasks; on a phase, on its barrier).
 */
export type ResolvedRef =
  | { readonly kind: 'task'; readonly id: string } // phase/ws/task
  | { readonly kind: 'gate'; readonly id: string } // phase/GATE_X
  | { readonly kind: 'ws'; readonly id: string } // phase/ws
  | { readonly kind: 'phase'; readonly id: string }; // phase

export interface DependencyRef {
  /** as the user wrote it */
  readonly raw: string;
  readonly loc: SourceLoc;
  readonly resolved: ResolvedRef;
}

export interface TaskSpec {
  /** phase/ws/task */
  readonly fullId: string;
  readonly id: string;
  readonly phase: string;
  readonly workstream: string;
  readonly kind: TaskKind;
  /** the shell command after tool expansion (tool run + args), if any */
  readonly run?: string;
  /** the tool name when the task says `tool:` */
  readonly tool?: string;
  readonly patches: readonly string[];
  /** absent: never fresh, always runs. [] : no file inputs */
  readonly inputs?: readonly string[];
  /** absent: nothing cached but the fact of success */
  readonly outputs?: readonly string[];
  readonly dependsOn: readonly DependencyRef[];
  /** the config's env merged with the task's own */
  readonly env: EnvSpec;
  /** root-relative, '' for the root */
  readonly cwd: string;
  readonly retries: number;
  /** milliseconds before the first retry; doubles each attempt, capped at 60 s, with jitter */
  readonly retryDelay: number;
  /** milliseconds */
  readonly timeout?: number;
  readonly cache: boolean;
  readonly clean: CleanMode;
  readonly fix?: string;
  readonly loc: SourceLoc;
}

export type GateType = 'lint' | 'unit' | 'integration' | 'security' | 'custom';

export interface GateSpec {
  /** phase/GATE_X */
  readonly fullId: string;
  readonly id: string;
  readonly phase: string;
  readonly type: GateType;
  /** full task ids of its members, resolved from `needs` (kind or refs/globs) */
  readonly members: readonly string[];
  readonly run?: string;
  readonly blocking: boolean;
  readonly dependsOn: readonly DependencyRef[];
  readonly loc: SourceLoc;
}

export type WorkstreamOrder = 'edit-static-runtime' | 'none';

export interface WorkstreamSpec {
  /** phase/ws */
  readonly fullId: string;
  readonly id: string;
  readonly phase: string;
  readonly name?: string;
  readonly dependsOn: readonly DependencyRef[];
  /** effective scope: the phase's, narrowed by the workstream's */
  readonly filesScope: FilesScope;
  /** true when the workstream itself declared files_scope (only those are checked for conflicts) */
  readonly declaresScope: boolean;
  readonly conflictGroup?: string;
  readonly parallelOk: boolean;
  readonly order: WorkstreamOrder;
  readonly isolation: 'none' | 'worktree';
  readonly circuitBreaker?: Readonly<Record<string, unknown>>;
  /** extra keys (commit:, patch_policy:) kept for later issues */
  readonly extra: Readonly<Record<string, unknown>>;
  readonly tasks: readonly TaskSpec[];
  readonly loc: SourceLoc;
}

export interface PhaseSpec {
  readonly id: string;
  readonly name?: string;
  /** root-relative path of the phase file */
  readonly file: string;
  readonly dependsOn: readonly DependencyRef[];
  readonly maxParallel?: number;
  readonly filesScope: FilesScope;
  readonly patchPolicy?: Readonly<Record<string, unknown>>;
  readonly gates: readonly GateSpec[];
  readonly workstreams: readonly WorkstreamSpec[];
  readonly loc: SourceLoc;
}

export interface ProjectSpec {
  /** absolute path of the folder holding uet.config.yaml */
  readonly root: string;
  readonly config: ConfigSpec;
  /** in a stable order: by phase id */
  readonly phases: readonly PhaseSpec[];
  /** root-relative paths of every file the spec was read from (config, phases, workstreams, templates) */
  readonly specFiles: readonly string[];
}
