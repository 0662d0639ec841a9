/**
 * The file piscina's workers load (pool.ts): CommonJS, so that piscina's require() of its task
 * file is an ordinary require. Given worker.js itself, an ES module, require() loads it
 * synchronously (require(esm), on by default since Node 20.19), and in a worker of uet's CI
 * that aborted Node 20.20 (a fatal "v8::Module::IsGraphAsync must be used on an instantiated
 * module" inside that require). Here the module is loaded with import(), once per worker.
 */
import type { RunOutcome } from './types.js';
import type { WorkerTask } from './worker.js';

type RunTask = (task: WorkerTask) => Promise<RunOutcome>;

let runTask: Promise<RunTask> | undefined;

async function run(task: WorkerTask): Promise<RunOutcome> {
  runTask ??= import('./worker.js').then((m: { default: RunTask }) => m.default);
  return (await runTask)(task);
}

export = run;
