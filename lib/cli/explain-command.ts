/**
 * `uet explain TASK`: why the task would run now. It is a dry run of the task and what it
 * needs (nothing is written), reporting the task's decision with every change listed;
 * plus why it last ran, from the newest run log that ran it.
 */
import path from 'node:path';
import { createExplainStore } from '../build/explain-store.js';
import { createProjectFiles } from '../build/project-files.js';
import { Build } from '../build/runner.js';
import { openFreshLog } from '../cache/fresh-log.js';
import { openCacheStore } from '../cache/store.js';
import { listRuns, readRun } from '../events/run-log.js';
import type { RunEvent } from '../events/types.js';
import { createDirectExecutor } from '../exec/pool.js';
import { gateKey, taskKey } from '../graph/project.js';
import { planClosure, targetNames } from '../graph/targets.js';
import { createGlobber } from '../hash/globber.js';
import { Ledger } from '../patch/ledger.js';
import { createPatchRunner } from '../patch/service.js';
import { errorAt } from '../spec/diagnostic.js';
import { suggest } from '../spec/suggest.js';
import { sleep } from '../util/sleep.js';
import type { Io } from './context.js';
import { EXIT_OK, openProject, specFailed } from './context.js';

export async function explainCommand(io: Io, target: string, opts: { dir?: string }): Promise<number> {
  const opened = await openProject(io, opts.dir);
  if (!opened.ok) return specFailed(io, opened.error);
  const { root, uetDir, hasher, loaded } = opened.value;
  const project = loaded.project;
  const key = [taskKey(target), gateKey(target)].find((k) => project.graph.hasNode(k));
  if (!key) {
    const names = [...targetNames(project).keys()].filter((n) => project.graph.hasNode(taskKey(n)) || project.graph.hasNode(gateKey(n)));
    const guess = suggest(target, names);
    return specFailed(io, [errorAt('E_UNKNOWN_TARGET', `no task or gate is called '${target}'${guess ? ` (did you mean '${guess}'?)` : ''}`, undefined, 'give the full id: phase/workstream/task or phase/GATE_X')]);
  }

  const events: Array<{ ev: RunEvent }> = [];
  const config = project.spec.config;
  const freshLog = await openFreshLog(path.join(uetDir, 'fresh.log'));
  const executor = createDirectExecutor();
  const globber = createGlobber(root, { ignoreDirs: ['.git', 'node_modules', '.uet', `${config.cache.dir}/`] });
  const patches = createPatchRunner({
    root,
    uetDir,
    project,
    ledger: await Ledger.open(uetDir),
    runId: 'explain',
    dryRun: true,
    expand: (globs) => globber.expand(globs),
    breaker: () => {},
    warn: () => {},
  });
  const build = new Build(
    project,
    planClosure(project, [key]),
    {
      root,
      hasher,
      globber,
      patches,
      cache: await openCacheStore(path.join(root, config.cache.dir)).catch(() => undefined),
      freshLog,
      executor,
      explain: createExplainStore(uetDir),
      files: createProjectFiles(root),
      emit: (ev) => events.push({ ev }),
      now: Date.now,
      sleep,
      random: Math.random,
      hostEnv: io.env,
    },
    { runId: 'explain', jobs: 1, force: false, keepGoing: true, dryRun: true, replayLogs: false, shell: config.shell, reasonDetail: Number.POSITIVE_INFINITY },
  );
  await build.run();
  await executor.close();
  await hasher.flush();

  const id = key.slice(2);
  const mine = events.map((e) => e.ev).filter((ev): ev is Extract<RunEvent, { type: 'task-end' }> => ev.type === 'task-end' && ev.task === id);
  const end = mine[mine.length - 1];
  const record = freshLog.get(id);
  await freshLog.close();
  if (!end) {
    io.stdout.write(`${id}: blocked or not reachable now\n`);
  } else if (end.status === 'fresh') {
    io.stdout.write(`${id}: fresh — ${end.reason ?? ''}${record ? ` (last success ${new Date(record.at).toISOString()})` : ''}\n`);
  } else if (end.status === 'restored') {
    io.stdout.write(`${id}: would be restored from the cache — ${(end.reason ?? '').replace(/^would restore: /, '')}\n`);
  } else {
    io.stdout.write(`${id}: would run — ${(end.reason ?? '').replace(/^dry run: /, '')}\n`);
  }
  const last = await lastRunReason(uetDir, id);
  if (last) io.stdout.write(`last ran in run ${last.runId} (${new Date(last.at).toISOString()}): ${last.reason}\n`);
  return EXIT_OK;
}

async function lastRunReason(uetDir: string, taskId: string): Promise<{ runId: string; at: number; reason: string } | undefined> {
  const runs = await listRuns(uetDir);
  for (const run of runs.slice(0, 20)) {
    const events = await readRun(uetDir, run.id);
    if (!events.ok) continue;
    for (let i = events.value.length - 1; i >= 0; i--) {
      const ev = events.value[i]!;
      if (ev.type === 'task-start' && ev.task === taskId) return { runId: ev.runId, at: ev.at, reason: ev.reason };
    }
  }
  return undefined;
}
