/**
 * The FIX loop: a static or runtime task with `fix: TOOL` failed. The tool gets the failure's log
 * and answers with a patch; the patch goes through the ledger (validated, applied) and the task
 * runs again. Bounded by max_fix_attempts and max_attempts; the same error signature or the
 * same patch seen `threshold` times within the last `window` attempts trips the breaker.
 * When the loop gives up, every fix patch it applied is reversed (rolled_back, then quarantined):
 * the tree is as it was before the loop.
 *
 * The fix patches of one task are applied as one growing set under the record `<task>#fix`, so
 * reversing them all is putting back that record's pre-image.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { taskFileName } from '../build/explain-store.js';
import type { TaskSpec, ToolSpec } from '../spec/model.js';
import { shellQuote } from '../spec/paths.js';
import type { EditContext, PatchSource } from './edit-task.js';
import { applyTaskPatches, forgetRecord, revertTaskPatches, sha256Text } from './edit-task.js';
import { TRANSITIONS } from './ledger.js';

export interface CommandResult {
  readonly exitCode: number | null;
  readonly output: string;
}

export interface FixRequest {
  readonly task: TaskSpec;
  readonly tool: ToolSpec;
  /** the failed run's output */
  readonly log: string;
  readonly maxFixAttempts: number;
  /** most runs of the task in this build, the failed one included */
  readonly maxAttempts: number;
  /** the task's command again */
  rerun(): Promise<CommandResult>;
  /** a shell command in the project root (the tool) */
  runTool(command: string, timeoutMs: number | undefined): Promise<CommandResult>;
}

export type FixOutcome =
  | { readonly fixed: true; readonly result: CommandResult; readonly patchIds: readonly string[]; readonly note: string; readonly changed: readonly string[] }
  | { readonly fixed: false; readonly result: CommandResult; readonly code: 'E_OSCILLATION' | 'E_FIX_LIMIT' | 'E_FIX_TOOL' | 'E_PATCH'; readonly note: string; readonly changed: readonly string[] };

/** An error's identity across attempts: numbers, hex ids and spacing do not count. */
export function errorSignature(log: string): string {
  return sha256Text(
    log
      .replace(/\x1b\[[0-9;]*m/g, '')
      .replace(/0x[0-9a-f]+|\b[0-9a-f]{8,}\b/gi, 'H')
      .replace(/\d+/g, 'N')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

export const fixRecordId = (taskId: string): string => `${taskId}#fix`;

export async function runFixLoop(req: FixRequest, ctx: EditContext, emitBreaker: (code: 'E_OSCILLATION' | 'E_FIX_LIMIT', reason: string) => void): Promise<FixOutcome> {
  const { task, tool } = req;
  const fixTask: TaskSpec = { ...task, fullId: fixRecordId(task.fullId) };
  const dir = path.join(ctx.uetDir, 'fix', taskFileName(task.fullId));
  await fs.mkdir(dir, { recursive: true });
  // Fixes of an earlier, successful loop are part of the tree now: this loop starts its own set.
  await forgetRecord(ctx.uetDir, fixTask.fullId);
  const { window, threshold } = ctx.policy.oscillation;
  const errors: string[] = [errorSignature(req.log)];
  const patches: string[] = [];
  const sources: PatchSource[] = [];
  let result: CommandResult = { exitCode: 1, output: req.log };
  let runs = 1;
  /** every file the loop wrote (the build forgets what it knew of them) */
  const changed = new Set<string>();

  const giveUp = async (code: 'E_OSCILLATION' | 'E_FIX_LIMIT' | 'E_FIX_TOOL' | 'E_PATCH', note: string): Promise<FixOutcome> => {
    if (code === 'E_OSCILLATION' || code === 'E_FIX_LIMIT') emitBreaker(code, note);
    const reverted = await revertTaskPatches(fixTask, ctx);
    for (const p of reverted.changed) changed.add(p);
    for (const id of reverted.patchIds) {
      const e = ctx.ledger.find(id);
      if (!e || e === 'ambiguous') continue;
      if (TRANSITIONS[e.state].includes('rolled_back')) await ctx.ledger.transition(e, 'rolled_back', `the FIX loop gave up (${code})`, ctx.runId);
      if (TRANSITIONS[e.state].includes('quarantined')) await ctx.ledger.quarantine(e, { code: 'E_FIX_REVERTED', message: `a fix that did not help: ${note}` }, ctx.runId);
    }
    const undone = reverted.patchIds.length > 0 ? `; ${reverted.patchIds.length} fix patch${reverted.patchIds.length === 1 ? '' : 'es'} reversed and quarantined` : '';
    return { fixed: false, result, code, changed: [...changed], note: `${code} ${note}${undone}${reverted.problem ? `; ${reverted.problem}` : ''}` };
  };

  for (let attempt = 1; ; attempt++) {
    if (attempt > req.maxFixAttempts) return giveUp('E_FIX_LIMIT', `still failing after ${req.maxFixAttempts} fix attempt${req.maxFixAttempts === 1 ? '' : 's'} (max_fix_attempts)`);
    if (runs >= req.maxAttempts) return giveUp('E_FIX_LIMIT', `still failing after ${runs} runs (max_attempts)`);
    const logFile = path.join(dir, `attempt-${attempt}.log`);
    const patchFile = path.join(dir, `attempt-${attempt}.diff`);
    await fs.writeFile(logFile, result.output);
    await fs.rm(patchFile, { force: true });
    const command = tool.run
      .replaceAll('{task}', shellQuote(task.fullId))
      .replaceAll('{log}', shellQuote(logFile))
      .replaceAll('{patch}', shellQuote(patchFile))
      .replaceAll('{cwd}', shellQuote(task.cwd === '' ? '.' : task.cwd))
      .replaceAll('{files}', ctx.scope.write.map(shellQuote).join(' '));
    const answer = await req.runTool(command, tool.timeout);
    if (answer.exitCode !== 0) return giveUp('E_FIX_TOOL', `fix tool '${tool.name}' exited ${answer.exitCode}: ${answer.output.trim().split('\n').slice(-1)[0] ?? ''}`);
    let text: string;
    try {
      text = await fs.readFile(patchFile, 'latin1');
    } catch {
      text = Buffer.from(answer.output, 'utf8').toString('latin1');
    }
    const hash = sha256Text(text);
    patches.push(hash);
    const source = path.posix.join('.uet', 'patches', `${hash}.diff`);
    if (repeats(patches, hash, window) >= threshold) return giveUp('E_OSCILLATION', `fix tool '${tool.name}' answered with the same patch ${threshold} times within ${window} attempts`);
    sources.push({ source, text, origin: 'fix' });
    const applied = await applyTaskPatches(fixTask, sources, ctx);
    if (applied.status === 'failed') {
      sources.pop();
      return giveUp('E_PATCH', `fix patch refused: ${applied.reason}`);
    }
    for (const p of applied.changed) changed.add(p);
    result = await req.rerun();
    runs++;
    if (result.exitCode === 0) return { fixed: true, result, patchIds: applied.patchIds, changed: [...changed], note: `fixed by ${sources.length} patch${sources.length === 1 ? '' : 'es'} from '${tool.name}'` };
    const sig = errorSignature(result.output);
    errors.push(sig);
    if (repeats(errors, sig, window) >= threshold) return giveUp('E_OSCILLATION', `the same error came back ${threshold} times within ${window} attempts`);
  }
}

/** How often `item` occurs among the last `window` items. */
function repeats(items: readonly string[], item: string, window: number): number {
  return items.slice(-window).filter((x) => x === item).length;
}
