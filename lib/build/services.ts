/**
 * The edges of a build: everything with a side effect sits behind these interfaces, so the
 * scheduler is testable and a dry run is just a different set of services.
 */
import type { CacheStore, FreshLog } from '../cache/types.js';
import type { RunEvent } from '../events/types.js';
import type { TaskExecutor } from '../exec/types.js';
import type { FileHasher, Globber } from '../hash/types.js';
import type { EditOutcome } from '../patch/edit-task.js';
import type { FixOutcome, FixRequest } from '../patch/fix-loop.js';
import type { TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import type { Breakers } from './breaker.js';
import type { KeyParts } from './key.js';

/** Where the key parts of each task's last success are kept, for `uet explain`. */
export interface ExplainStore {
  get(taskId: string): Promise<KeyParts | undefined>;
  put(taskId: string, parts: KeyParts): Promise<void>;
  /** the full log of the task's last run, for `{log}` and for humans */
  putLog(taskId: string, log: string): Promise<void>;
  logPath(taskId: string): string;
}

export interface ProjectFiles {
  /** delete root-relative files; missing ones are fine */
  remove(relPaths: readonly string[]): Promise<void>;
}

/**
 * Where a task reads and writes its files: the main checkout, or its workstream's git
 * worktree. Paths stay root-relative in every view, so keys (and cache entries) are shared.
 */
export interface FileView {
  readonly root: string;
  readonly hasher: FileHasher;
  readonly globber: Globber;
  readonly files: ProjectFiles;
  /** the patch pipeline working in this view's checkout (a worktree's); absent: the build's own */
  readonly patches?: PatchRunner;
}

/**
 * Workstreams with `isolation: worktree`. The scheduler knows no git: it asks for a task's
 * view, says when a workstream's tasks have all settled, and lets a phase's barrier wait for
 * its integration.
 */
export interface Workspaces {
  /** undefined: the task works in the main checkout; otherwise its worktree (made on first use) */
  viewOf(task: TaskSpec): Promise<Result<FileView, string>> | undefined;
  /**
   * Every planned task of the workstream settled; `passed` when each was fresh, restored or ran.
   * `before` (its patches being verified and committed in the worktree) completes before the
   * workstream's own commit is made.
   */
  workstreamSettled(workstream: string, passed: boolean, before?: Promise<void>): void;
  /**
   * The phase's gates passed: integrate its worktree branches before its barrier settles.
   * `recheckGates` runs the phase's gates again in the main checkout, leaving out the tasks of
   * the workstreams named (not integrated yet); true when they pass.
   */
  phasePassed(phase: string, recheckGates: (notIntegrated: ReadonlySet<string>) => Promise<boolean>): Promise<Result<void, string>>;
}

/** Receives every event as it happens, plus a finished task's output. */
export interface Reporter {
  event(ev: RunEvent, output?: string): void;
  /** the summary line, printed last */
  summary(line: string): void;
  close(): void;
}

/** The patch pipeline as the scheduler sees it (lib/patch/service.ts; a dry run plans without writing). */
export interface PatchRunner {
  /** check and apply a task's `patches:` (incrementally; a failure writes nothing) */
  applyEditTask(task: TaskSpec): Promise<EditOutcome>;
  /** the FIX loop of a failed task with `fix:`; undefined when there is none to run (dry run) */
  fix(req: Omit<FixRequest, 'maxFixAttempts' | 'maxAttempts' | 'tool'>): Promise<FixOutcome | undefined>;
  /** a `tool:` task's command with the patch placeholders ({patch}, {files}) filled in */
  toolCommand(task: TaskSpec, command: string): string;
  /** a `produces: patch` tool ran: its answer (the file at {patch}, else its output) is applied like an edit task's patch */
  applyToolAnswer(task: TaskSpec, output: string): Promise<EditOutcome>;
  /** every static and runtime task of the workstream passed in this run: its applied patches are verified (and committed) */
  workstreamPassed(ws: WorkstreamSpec): Promise<void>;
}

export interface BuildServices {
  readonly root: string;
  readonly hasher: FileHasher;
  readonly globber: Globber;
  /** absent with --no-cache, or when the cache could not be opened */
  readonly cache: CacheStore | undefined;
  readonly freshLog: FreshLog;
  readonly executor: TaskExecutor;
  readonly explain: ExplainStore;
  readonly files: ProjectFiles;
  readonly patches: PatchRunner;
  readonly emit: (ev: RunEvent, output?: string) => void;
  readonly now: () => number;
  /** circuit breakers of tools; absent in dry runs */
  readonly breakers?: Breakers;
  /** waits (between retries); resolves early when the signal aborts */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** [0, 1): jitter for retry delays */
  readonly random: () => number;
  /** isolated workstreams; absent: every task works in the main checkout (and in dry runs) */
  readonly workspaces?: Workspaces;
  /** the environment task env vars are read from (process.env in real builds) */
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
}
