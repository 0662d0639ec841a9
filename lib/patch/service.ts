/**
 * What the build scheduler asks of the patch pipeline, in one place: apply an edit task's
 * patches, run a FIX loop, and mark a workstream's patches verified (and committed) once its
 * static and runtime tasks passed. The scheduler sees only the PatchRunner interface
 * (build/services.ts); a dry run gets one that plans without writing.
 */
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { taskFileName } from '../build/explain-store.js';
import type { PatchRunner } from '../build/services.js';
import { shellQuote } from '../spec/paths.js';
import type { CompiledProject } from '../graph/project.js';
import type { TaskSpec, WorkstreamSpec } from '../spec/model.js';
import type { EditContext, EditOutcome } from './edit-task.js';
import type { FixOutcome, FixRequest } from './fix-loop.js';
import type { Ledger } from './ledger.js';
import { effectivePolicy } from './policy.js';
import type { PathProbe } from './validate.js';

export interface PatchRunnerDeps {
  /** the checkout patches apply to and commit in (the project root, or a worktree's) */
  readonly root: string;
  /** where the patch files themselves are read from (default: root): always the user's checkout */
  readonly patchRoot?: string;
  readonly uetDir: string;
  readonly project: CompiledProject;
  readonly ledger: Ledger;
  readonly runId: string;
  readonly dryRun: boolean;
  /** globs -> root-relative files, byte order */
  expand(globs: readonly string[]): Promise<string[]>;
  breaker(task: string, code: 'E_OSCILLATION' | 'E_FIX_LIMIT', reason: string): void;
  warn(message: string): void;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_MAX_FIX_ATTEMPTS = 2;

function breakerSetting(ws: WorkstreamSpec, config: Readonly<Record<string, unknown>> | undefined, key: string, dflt: number): number {
  const v = ws.circuitBreaker?.[key] ?? config?.[key];
  return typeof v === 'number' ? v : dflt;
}

/**
 * What parses, checks and applies patches (with the diff library): loaded by the first patch a
 * build applies. Most builds apply none, and loading it cost each of them ~20 ms.
 */
async function loadPipeline() {
  const [edit, fix, validate] = await Promise.all([import('./edit-task.js'), import('./fix-loop.js'), import('./validate.js')]);
  return { edit, fix, validate };
}

export function createPatchRunner(deps: PatchRunnerDeps): PatchRunner {
  let pipeline: ReturnType<typeof loadPipeline> | undefined;
  const loaded = (): ReturnType<typeof loadPipeline> => (pipeline ??= loadPipeline());
  let probe: PathProbe | undefined;
  let gitTurn: Promise<unknown> = Promise.resolve();
  const spec = deps.project.spec;
  const toolPatchFile = (task: TaskSpec): string => path.join(deps.uetDir, 'tool-patches', `${taskFileName(task.fullId)}.diff`);
  const workstreamOf = (task: TaskSpec): WorkstreamSpec => deps.project.workstreams.get(`${task.phase}/${task.workstream}`)!;
  const contextFor = async (ws: WorkstreamSpec): Promise<EditContext> => {
    probe ??= (await loaded()).validate.createPathProbe(deps.root);
    const phase = spec.phases.find((p) => p.id === ws.phase);
    return {
      root: deps.root,
      uetDir: deps.uetDir,
      ledger: deps.ledger,
      probe,
      scope: ws.filesScope,
      policy: effectivePolicy(spec.config.patchPolicy, phase?.patchPolicy, ws.extra['patch_policy']),
      runId: deps.runId,
      dryRun: deps.dryRun,
    };
  };

  return {
    async applyEditTask(task: TaskSpec): Promise<EditOutcome> {
      const { edit } = await loaded();
      const files = await deps.expand(task.patches);
      const sources = await edit.readPatchFiles(deps.patchRoot ?? deps.root, files);
      if (!sources.ok) return { status: 'failed', reason: `could not read a patch: ${sources.error}`, detail: '' };
      return edit.applyTaskPatches(task, sources.value, await contextFor(workstreamOf(task)));
    },

    toolCommand(task: TaskSpec, command: string): string {
      if (task.tool === undefined) return command;
      if (command.includes('{patch}') && !deps.dryRun) mkdirSync(path.dirname(toolPatchFile(task)), { recursive: true });
      return command.replaceAll('{patch}', shellQuote(toolPatchFile(task))).replaceAll('{files}', workstreamOf(task).filesScope.write.map(shellQuote).join(' '));
    },

    async applyToolAnswer(task: TaskSpec, output: string): Promise<EditOutcome> {
      const file = toolPatchFile(task);
      let text: string;
      try {
        text = await fs.readFile(file, 'latin1');
        await fs.rm(file, { force: true });
      } catch {
        text = Buffer.from(output, 'utf8').toString('latin1');
      }
      if (deps.dryRun) return { status: 'applied', reason: 'dry run', digest: undefined, changed: [], patchIds: [] };
      // An empty answer: the tool proposes no change (earlier answers stay in place).
      if (text.trim() === '') return { status: 'fresh', reason: 'the tool proposed no change', digest: undefined, changed: [], patchIds: [] };
      const { edit } = await loaded();
      const source = path.posix.join('.uet', 'patches', `${edit.sha256Text(text)}.diff`);
      return edit.applyTaskPatches({ ...task, fullId: `${task.fullId}#tool` }, [{ source, text, origin: 'tool' }], await contextFor(workstreamOf(task)));
    },

    async fix(req: Omit<FixRequest, 'maxFixAttempts' | 'maxAttempts' | 'tool'>): Promise<FixOutcome | undefined> {
      const tool = req.task.fix !== undefined ? spec.config.tools[req.task.fix] : undefined;
      if (!tool || deps.dryRun) return undefined;
      const ws = workstreamOf(req.task);
      const cb = spec.config.circuitBreaker;
      const { fix } = await loaded();
      return fix.runFixLoop(
        {
          ...req,
          tool,
          maxFixAttempts: breakerSetting(ws, cb, 'max_fix_attempts', DEFAULT_MAX_FIX_ATTEMPTS),
          maxAttempts: breakerSetting(ws, cb, 'max_attempts', DEFAULT_MAX_ATTEMPTS),
        },
        await contextFor(ws),
        (code, reason) => deps.breaker(req.task.fullId, code, reason),
      );
    },

    async workstreamPassed(ws: WorkstreamSpec): Promise<void> {
      if (deps.dryRun) return;
      const ledger = deps.ledger;
      const applied = ledger.list().filter((e) => e.workstream === ws.fullId && e.state === 'applied');
      if (applied.length === 0) return;
      for (const e of applied) await ledger.transition(e, 'verified', `${ws.fullId}: static and runtime tasks passed`, deps.runId);
      if (ws.extra['commit'] !== true) return;
      const files = [...new Set(applied.flatMap((e) => e.files))].sort();
      const message = `uet: ${applied[0]!.summary}${applied.length > 1 ? ` (+${applied.length - 1} more)` : ''} [${applied.map((e) => e.patch_id).join(', ')}]`;
      // One commit at a time: two workstreams committing at once would race for git's index.
      // simple-git is loaded only when a workstream commits: most builds never do
      const turn = gitTurn.then(async () => (await import('./commit.js')).commitFiles(deps.root, files, message));
      gitTurn = turn;
      const committed = await turn;
      if (!committed.ok) {
        deps.warn(`${ws.fullId}: verified patches not committed: ${committed.error}`);
        return;
      }
      const what = committed.value !== undefined ? `committed as ${committed.value}` : 'already in HEAD';
      for (const e of applied) await ledger.transition(e, 'committed', what, deps.runId);
    },
  };
}
