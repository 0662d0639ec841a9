/**
 * What a person (or CI, or a script) sees of a build. On a terminal: one live status line,
 * each finished task's output printed whole, prefixed by its id. Elsewhere: plain lines.
 * With --json: the run's events as NDJSON and nothing else on stdout.
 */
import pc from 'picocolors';
import type { RunEvent } from '../events/types.js';
import type { Reporter } from '../build/services.js';
import { assertNever } from '../util/result.js';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface Sink {
  write(text: string): void;
  readonly isTTY: boolean;
}

export function createJsonReporter(out: Sink): Reporter {
  return {
    event(ev, output) {
      out.write(`${JSON.stringify(output !== undefined && ev.type === 'task-end' ? { ...ev, output } : ev)}\n`);
    },
    summary(line) {
      out.write(`${JSON.stringify({ type: 'summary', line })}\n`);
    },
    close() {},
  };
}

export function createTextReporter(out: Sink, opts: { verbosity: Verbosity; total: number; dryRun: boolean }): Reporter {
  const tty = out.isTTY;
  const running = new Set<string>();
  let done = 0;
  let cached = 0;
  let statusShown = false;
  let lastStatus = 0;

  const clearStatus = (): void => {
    if (statusShown) out.write('\r\x1b[2K');
    statusShown = false;
  };
  const drawStatus = (force = false): void => {
    if (!tty || opts.verbosity === 'quiet') return;
    const now = Date.now();
    if (!force && now - lastStatus < 50) return;
    lastStatus = now;
    const names = [...running].slice(0, 3).join(', ') + (running.size > 3 ? ` +${running.size - 3}` : '');
    const line = `[${done}/${opts.total}] ${running.size > 0 ? `running ${names}` : ''}${cached > 0 ? ` · ${cached} cached` : ''}`;
    const width = process.stdout.columns || 100;
    out.write(`\r\x1b[2K${pc.dim(line.slice(0, width - 1))}`);
    statusShown = true;
  };
  const print = (text: string): void => {
    clearStatus();
    out.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const printOutput = (id: string, output: string | undefined): void => {
    if (!output) return;
    const body = output.endsWith('\n') ? output.slice(0, -1) : output;
    if (body.length === 0) return;
    print(body.split('\n').map((l) => `${pc.dim(`${id} |`)} ${l}`).join('\n'));
  };

  return {
    event(ev: RunEvent, output?: string) {
      switch (ev.type) {
        case 'task-start':
          running.add(ev.task);
          if (opts.verbosity === 'verbose' || opts.dryRun) print(`${pc.cyan(opts.dryRun ? 'would run' : 'start')} ${ev.task}: ${ev.reason}`);
          drawStatus();
          return;
        case 'task-end': {
          running.delete(ev.task);
          done++;
          const secs = ev.durationMs >= 100 ? ` (${(ev.durationMs / 1000).toFixed(1)} s)` : '';
          switch (ev.status) {
            case 'fresh':
              if (opts.verbosity === 'verbose' || opts.dryRun) print(`${pc.dim('fresh   ')} ${ev.task}`);
              break;
            case 'restored':
              cached++;
              if (opts.verbosity !== 'quiet') print(`${pc.blue('restored')} ${ev.task}${opts.verbosity === 'verbose' || opts.dryRun ? `: ${ev.reason ?? ''}` : ''}`);
              if (output) printOutput(ev.task, output);
              break;
            case 'ran':
              if (opts.dryRun) break;
              if (opts.verbosity !== 'quiet') {
                print(`${pc.green('ran     ')} ${ev.task}${secs}${opts.verbosity === 'verbose' && ev.reason ? ` — ${ev.reason}` : ''}`);
                printOutput(ev.task, output);
              }
              break;
            case 'failed':
              print(`${pc.red(pc.bold('FAILED  '))} ${ev.task}: ${ev.reason ?? ''}${secs}`);
              printOutput(ev.task, output);
              break;
            case 'blocked':
              print(`${pc.yellow('blocked ')} ${ev.task} (${ev.reason ?? ''})`);
              break;
            case 'skipped':
              if (opts.verbosity === 'verbose') print(`${pc.dim('skipped ')} ${ev.task} (${ev.reason ?? ''})`);
              break;
          }
          drawStatus();
          return;
        }
        case 'gate-end':
          if (ev.status === 'passed') {
            if (opts.verbosity !== 'quiet') print(`${pc.green('gate    ')} ${ev.gate} passed`);
          } else if (ev.status === 'failed') {
            print(`${ev.blocking ? pc.red(pc.bold('GATE    ')) : pc.yellow('gate    ')} ${ev.gate} failed${ev.blocking ? '' : ' (not blocking)'}: ${ev.reason ?? ''}`);
          } else {
            print(`${pc.yellow('gate    ')} ${ev.gate} blocked (${ev.reason ?? ''})`);
          }
          return;
        case 'cache':
          if (ev.op === 'corrupt' || ev.op === 'error') print(`${pc.yellow('warning:')} cache ${ev.op} for ${ev.task}: ${ev.detail ?? ''}`);
          return;
        case 'warning':
          print(`${pc.yellow('warning:')} ${ev.message}`);
          return;
        case 'patch':
          if (opts.verbosity === 'verbose' || ev.to === 'quarantined' || ev.to === 'rolled_back' || ev.to === 'committed') {
            print(`${ev.to === 'quarantined' ? pc.yellow('patch   ') : pc.dim('patch   ')} ${ev.patchId} ${ev.from ?? 'new'} -> ${ev.to}: ${ev.reason}`);
          }
          return;
        case 'fix-breaker':
          print(`${pc.red('breaker ')} ${ev.task}: ${ev.code} ${ev.reason}`);
          return;
        case 'task-attempt':
          if (opts.verbosity !== 'quiet') print(`${pc.yellow('retry   ')} ${ev.task}: attempt ${ev.attempt}/${ev.of} failed (${ev.reason}); next in ${(ev.delayMs / 1000).toFixed(1)} s`);
          return;
        case 'breaker':
          print(`${pc.yellow('breaker ')} tool ${ev.tool}: ${ev.from} -> ${ev.to}`);
          return;
        case 'worktree':
          if (ev.op === 'committed') {
            if (opts.verbosity !== 'quiet') print(`${pc.green('commit  ')} ${ev.workstream} on ${ev.branch}: ${ev.files?.length ?? 0} file${ev.files?.length === 1 ? '' : 's'}`);
          } else if (opts.verbosity === 'verbose' || ev.op === 'cleaned') {
            print(`${pc.dim('worktree')} ${ev.workstream} ${ev.op}${ev.path ? ` ${ev.path}` : ''}${ev.detail ? ` (${ev.detail})` : ''}`);
          }
          return;
        case 'integration': {
          const status = ev.status;
          switch (status) {
            case 'merged':
            case 'up-to-date':
              if (opts.verbosity !== 'quiet') print(`${pc.green('merged  ')} ${ev.branch} into ${ev.into}${ev.status === 'up-to-date' ? ' (nothing to merge)' : ''}`);
              return;
            case 'left':
              print(`${pc.yellow('branch  ')} ${ev.branch} left for you${ev.message ? `: ${ev.message}` : ''}`);
              return;
            case 'conflict':
            case 'refused':
            case 'gates-failed':
              print(`${pc.red(pc.bold('error:'))} ${ev.message ?? ev.status}`);
              return;
            default:
              return assertNever(status, 'integration status');
          }
        }
        case 'worker':
        case 'phase-end':
        case 'run-start':
        case 'run-end':
        case 'cache-stats':
        case 'noop-proof':
          return;
        case 'unchanged':
          if (opts.verbosity === 'verbose') print(pc.dim(`unchanged ${ev.tasks} tasks: only ${ev.changed.join(', ')} changed since the last build`));
          return;
        case 'proof-written':
          if (opts.verbosity === 'verbose' && !ev.written) print(pc.dim(`no-op proof not written: ${ev.reason ?? 'unknown'}`));
          return;
        default:
          assertNever(ev, 'event');
      }
    },
    summary(line) {
      clearStatus();
      out.write(`${line}\n`);
    },
    close() {
      clearStatus();
    },
  };
}
