/**
 * What a resident process (`uet serve`, lib/cli/serve-command.ts) keeps between the builds it
 * runs, and lends to each (lib/cli/build-command.ts): the project lock, held for the process's
 * whole life; the stat index; the loaded project, for as long as its spec files are unchanged;
 * the freshness log; the explain store (as a watch session keeps it); and the fork server. A
 * build handed these decides exactly as a build in a process of its own would: each still stats
 * what it reads, and the project is loaded again as soon as a spec file differs. What it saves
 * is the loading.
 */
import path from 'node:path';
import { createExplainStore } from '../build/explain-store.js';
import type { ExplainStore } from '../build/services.js';
import { openFreshLog } from '../cache/fresh-log.js';
import type { FreshLog } from '../cache/types.js';
import type { LoadedGraph, LoadOptions } from '../graph/graph-cache.js';
import { loadCompiledProject, stillCurrent } from '../graph/graph-cache.js';
import { createFileHasher } from '../hash/file-hasher.js';
import { indexProjectPaths } from './proof-hint.js';
import type { FileHasher } from '../hash/types.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { Result } from '../util/result.js';
import { ok } from '../util/result.js';

export class ResidentProject {
  private loaded: LoadedGraph | undefined;
  /** what each task's last success was made of: only this process writes it while it holds the lock */
  readonly explain: ExplainStore;

  private constructor(
    readonly root: string,
    readonly uetDir: string,
    readonly hasher: FileHasher,
    private readonly log: FreshLog,
  ) {
    this.explain = createExplainStore(uetDir);
  }

  static async open(root: string): Promise<ResidentProject> {
    const uetDir = path.join(root, '.uet');
    const hasher = await createFileHasher(root, path.join(uetDir, 'stat-index'));
    return new ResidentProject(root, uetDir, hasher, await openFreshLog(path.join(uetDir, 'fresh.log'), 'whole'));
  }

  /** the project as loading it now would give it; `hasher` is the build's view of this.hasher */
  async load(hasher: FileHasher, opts: LoadOptions): Promise<Result<LoadedGraph, Diagnostic[]>> {
    if (this.loaded && (await stillCurrent(this.root, this.loaded, hasher))) return ok(this.loaded);
    this.loaded = undefined;
    const loaded = await loadCompiledProject(this.root, this.uetDir, hasher, opts);
    if (!loaded.ok) return loaded;
    this.loaded = loaded.value;
    // kept as long as the project: every hinted build narrows with it (lib/cli/proof-hint.ts)
    indexProjectPaths(loaded.value.project);
    return loaded;
  }

  /**
   * The freshness log, lent to one build: its close() compacts it as a build's own would (before
   * the build writes its no-op proof, which names the log's state), and leaves it open.
   */
  freshLog(): FreshLog {
    const log = this.log;
    return {
      get: (taskId) => log.get(taskId),
      invalidate: (taskId) => log.invalidate(taskId),
      record: (rec) => log.record(rec),
      close: () => log.compact(),
      compact: () => log.compact(),
    };
  }

  /** the process is stopping: save the stat index, release the log */
  async close(): Promise<void> {
    await this.log.close();
    await this.hasher.flush();
  }
}

/** How a resident process hands a build what it keeps, and takes its answer. */
export interface ResidentServing {
  readonly project: ResidentProject;
  /**
   * The asking shell has been shown all it will be: its exit code goes back now. What the build
   * does after this (pruning the cache, the next no-op proof, the run log's end) is bookkeeping,
   * done before the next build starts. Called at most once; without it, the build's end answers.
   */
  answer(code: number): void;
  /** the build wrote the no-op proof for its targets: these bytes */
  proofWritten?(bytes: Buffer): void;
}

/** What a build run by a resident process is handed. */
export interface ResidentBuild extends ResidentServing {
  /** the command line the build was asked with (for its run log) */
  readonly argv: readonly string[];
}
