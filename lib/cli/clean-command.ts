/** `uet clean [--cache] [TARGET...]`: delete outputs (and cache entries), forget successes. */
import path from 'node:path';
import { createProjectFiles } from '../build/project-files.js';
import { openFreshLog } from '../cache/fresh-log.js';
import { openCacheStore } from '../cache/store.js';
import { acquireProjectLock } from '../events/lock.js';
import { isTaskKey, taskKey } from '../graph/project.js';
import { resolveTargets } from '../graph/targets.js';
import { createGlobber } from '../hash/globber.js';
import type { TaskSpec } from '../spec/model.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_OK, openProject, specFailed } from './context.js';

export async function cleanCommand(io: Io, targets: readonly string[], opts: { dir?: string; cache: boolean }): Promise<number> {
  const opened = await openProject(io, opts.dir);
  if (!opened.ok) return specFailed(io, opened.error);
  const { root, uetDir, hasher, loaded } = opened.value;
  const project = loaded.project;
  // Without targets: every task, not just the default ones (`make clean` semantics).
  let tasks: TaskSpec[];
  if (targets.length === 0) {
    tasks = project.spec.phases.flatMap((p) => p.workstreams.flatMap((w) => [...w.tasks]));
  } else {
    const keys = resolveTargets(project, targets);
    if (!keys.ok) return specFailed(io, keys.error);
    const phases = new Set(keys.value.filter((k) => k.startsWith('p:')).map((k) => k.slice(2)));
    const taskKeys = new Set(keys.value.filter(isTaskKey));
    tasks = project.spec.phases.flatMap((p) => p.workstreams.flatMap((w) => w.tasks.filter((t) => phases.has(t.phase) || taskKeys.has(taskKey(t.fullId)))));
  }
  const lock = await acquireProjectLock(uetDir, { onWait: (h) => io.stderr.write(`waiting for the project lock: held by pid ${h.pid} (${h.command})\n`) });
  if (!lock.ok) {
    io.stderr.write(`error: could not lock the project: ${lock.error}\n`);
    return EXIT_FAILED;
  }
  try {
    const config = project.spec.config;
    const globber = createGlobber(root, { ignoreDirs: ['.git', 'node_modules', '.uet', `${config.cache.dir}/`] });
    const freshLog = await openFreshLog(path.join(uetDir, 'fresh.log'));
    const cache = opts.cache ? await openCacheStore(path.join(root, config.cache.dir)) : undefined;
    let files = 0;
    let entries = 0;
    const remover = createProjectFiles(root);
    for (const t of tasks) {
      if (t.outputs) {
        const outs = await globber.expand(t.outputs);
        await remover.remove(outs);
        for (const o of outs) hasher.forget(o);
        files += outs.length;
      }
      const rec = freshLog.get(t.fullId);
      if (rec) {
        freshLog.invalidate(t.fullId);
        if (cache && targets.length > 0) {
          await cache.delete(rec.key);
          entries++;
        }
      }
    }
    if (cache && targets.length === 0) {
      await cache.clear();
      io.stdout.write('cache cleared\n');
    }
    await freshLog.close();
    await hasher.flush();
    io.stdout.write(`cleaned ${tasks.length} task${tasks.length === 1 ? '' : 's'}: ${files} output file${files === 1 ? '' : 's'} deleted${cache && targets.length > 0 ? `, ${entries} cache entr${entries === 1 ? 'y' : 'ies'} removed` : ''}\n`);
    return EXIT_OK;
  } finally {
    lock.value.release();
  }
}
