/** `uet runs [ID|last]`: past runs, or one run's events. */
import path from 'node:path';
import { listRuns, readRun } from '../events/run-log.js';
import type { Io } from './context.js';
import { EXIT_OK, EXIT_SPEC, locateRoot, specFailed } from './context.js';

export async function runsCommand(io: Io, id: string | undefined, opts: { dir?: string; json: boolean }): Promise<number> {
  const root = locateRoot(io, opts.dir);
  if (!root.ok) return specFailed(io, root.error);
  const uetDir = path.join(root.value, '.uet');
  if (id === undefined) {
    const runs = await listRuns(uetDir);
    if (opts.json) {
      for (const r of runs) io.stdout.write(`${JSON.stringify(r)}\n`);
      return EXIT_OK;
    }
    if (runs.length === 0) {
      io.stdout.write('no runs yet\n');
      return EXIT_OK;
    }
    for (const r of runs) {
      const c = r.counts;
      const counts = c ? `${c.fresh} fresh, ${c.restored} restored, ${c.ran} ran, ${c.failed} failed${c.blocked ? `, ${c.blocked} blocked` : ''}` : '';
      const dur = r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)} s` : '';
      io.stdout.write(`${r.id}  ${new Date(r.startedAt).toISOString()}  ${r.status.padEnd(11)}  ${counts}  ${dur}\n`);
    }
    return EXIT_OK;
  }
  const events = await readRun(uetDir, id);
  if (!events.ok) {
    io.stderr.write(`E_USAGE ${events.error}\n  hint: 'uet runs' lists the runs; 'last' is the newest\n`);
    return EXIT_SPEC;
  }
  for (const ev of events.value) {
    if (opts.json) {
      io.stdout.write(`${JSON.stringify(ev)}\n`);
      continue;
    }
    const t = new Date(ev.at).toISOString().slice(11, 23);
    switch (ev.type) {
      case 'run-start':
        io.stdout.write(`${t} run ${ev.runId} started by pid ${ev.pid}: uet ${ev.argv.join(' ')} (${ev.tasks} tasks)\n`);
        break;
      case 'task-start':
        io.stdout.write(`${t} start    ${ev.task}: ${ev.reason}\n`);
        break;
      case 'task-end':
        io.stdout.write(
          `${t} ${ev.status.padEnd(8)} ${ev.task}${ev.durationMs ? ` (${ev.durationMs} ms)` : ''}${ev.worker !== undefined ? ` on worker ${ev.worker}` : ''}${ev.attempts ? `, ${ev.attempts} attempts` : ''}${ev.reason ? `: ${ev.reason}` : ''}\n`,
        );
        break;
      case 'task-attempt':
        io.stdout.write(`${t} retry    ${ev.task}: attempt ${ev.attempt}/${ev.of} failed (${ev.reason}), next in ${ev.delayMs} ms\n`);
        break;
      case 'breaker':
        io.stdout.write(`${t} breaker  ${ev.tool}: ${ev.from} -> ${ev.to}\n`);
        break;
      case 'worker':
        io.stdout.write(`${t} worker   ${ev.worker} ${ev.state}${ev.task ? ` ${ev.task}` : ''}\n`);
        break;
      case 'gate-end':
        io.stdout.write(`${t} gate     ${ev.gate} ${ev.status}${ev.reason ? `: ${ev.reason}` : ''}\n`);
        break;
      case 'phase-end':
        io.stdout.write(`${t} phase    ${ev.phase} ${ev.status}\n`);
        break;
      case 'cache':
        io.stdout.write(`${t} cache    ${ev.task} ${ev.op}${ev.detail ? `: ${ev.detail}` : ''}\n`);
        break;
      case 'worktree':
        io.stdout.write(`${t} worktree ${ev.workstream} ${ev.op}${ev.branch ? ` ${ev.branch}` : ''}${ev.commit ? ` ${ev.commit.slice(0, 12)}` : ''}${ev.files ? ` (${ev.files.join(', ')})` : ''}${ev.detail ? `: ${ev.detail}` : ''}\n`);
        break;
      case 'integration':
        io.stdout.write(`${t} merge    ${ev.branch} into ${ev.into}: ${ev.status}${ev.message ? `: ${ev.message}` : ''}\n`);
        break;
      case 'warning':
        io.stdout.write(`${t} warning  ${ev.message}\n`);
        break;
      case 'patch':
        io.stdout.write(`${t} patch    ${ev.patchId} ${ev.from ?? 'new'} -> ${ev.to} (${ev.task}): ${ev.reason}\n`);
        break;
      case 'fix-breaker':
        io.stdout.write(`${t} breaker  ${ev.task} ${ev.code}: ${ev.reason}\n`);
        break;
      case 'unchanged':
        io.stdout.write(`${t} no-op    ${ev.tasks} tasks unchanged since the last build (only ${ev.changed.join(', ')} changed): not examined\n`);
        break;
      case 'proof-written':
        io.stdout.write(`${t} proof    ${ev.written ? 'a no-op proof was written for the next build' : `no no-op proof: ${ev.reason ?? ''}`}\n`);
        break;
      case 'noop-proof':
        io.stdout.write(`${t} no-op    ${ev.paths} files and folders unchanged since the last build: no task examined\n`);
        break;
      case 'run-end':
        io.stdout.write(`${t} run ended: ${ev.status} in ${(ev.durationMs / 1000).toFixed(1)} s\n`);
        break;
      default:
        io.stdout.write(`${t} ${JSON.stringify(ev)}\n`);
    }
  }
  return EXIT_OK;
}
