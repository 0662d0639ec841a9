/**
 * `uet ledger [--state S] [--workstream W]`, `uet ledger show ID`, and the human overrides
 * `uet ledger drop ID` / `uet ledger requeue ID`.
 */
import path from 'node:path';
import { acquireProjectLock } from '../events/lock.js';
import type { LedgerEntry, PatchState } from '../patch/ledger.js';
import { Ledger, PATCH_STATES, TRANSITIONS } from '../patch/ledger.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_OK, EXIT_SPEC, locateRoot, specFailed } from './context.js';

export interface LedgerFlags {
  readonly dir?: string;
  readonly state?: string;
  readonly workstream?: string;
  readonly json: boolean;
}

const ACTIONS = ['show', 'drop', 'requeue'] as const;
type Action = (typeof ACTIONS)[number];

function usage(io: Io, message: string, hint: string): number {
  io.stderr.write(`E_USAGE ${message}\n  hint: ${hint}\n`);
  return EXIT_SPEC;
}

export async function ledgerCommand(io: Io, action: string | undefined, id: string | undefined, flags: LedgerFlags): Promise<number> {
  const root = locateRoot(io, flags.dir);
  if (!root.ok) return specFailed(io, root.error);
  const uetDir = path.join(root.value, '.uet');
  if (action === undefined) return list(io, await Ledger.open(uetDir), flags);
  if (!(ACTIONS as readonly string[]).includes(action)) return usage(io, `unknown ledger action '${action}'`, `uet ledger [--state S] [--workstream W] | uet ledger ${ACTIONS.join('|')} ID`);
  if (id === undefined) return usage(io, `uet ledger ${action} needs a patch id`, "'uet ledger' lists the patches; a unique prefix of an id is enough");
  const find = (ledger: Ledger): LedgerEntry | number => {
    const e = ledger.find(id);
    if (e === 'ambiguous') return usage(io, `'${id}' matches more than one patch`, 'give more of the id');
    if (!e) return usage(io, `no patch '${id}' in the ledger`, "'uet ledger' lists the patches");
    return e;
  };
  if ((action as Action) === 'show') {
    const ledger = await Ledger.open(uetDir);
    const e = find(ledger);
    if (typeof e === 'number') return e;
    return show(io, ledger, e, flags.json);
  }
  // Overrides write the ledger: not while a build does.
  const lock = await acquireProjectLock(uetDir, { onWait: (h) => io.stderr.write(`waiting for the project lock: held by pid ${h.pid} (${h.command})\n`) });
  if (!lock.ok) {
    io.stderr.write(`error: could not lock the project: ${lock.error}\n`);
    return EXIT_FAILED;
  }
  try {
    const ledger = await Ledger.open(uetDir);
    const e = find(ledger);
    if (typeof e === 'number') return e;
    const to: PatchState = action === 'drop' ? 'dropped' : 'queued';
    if (!TRANSITIONS[e.state].includes(to)) {
      return usage(io, `patch ${e.patch_id} is ${e.state}: it cannot be ${action === 'drop' ? 'dropped' : 'requeued'}`, `from ${e.state} a patch can go to: ${TRANSITIONS[e.state].join(', ') || 'nowhere'}`);
    }
    await ledger.transition(e, to, action === 'drop' ? 'dropped by hand (uet ledger drop): builds skip it' : 'requeued by hand (uet ledger requeue): the next build checks and applies it again', null);
    io.stdout.write(`${e.patch_id} ${to}\n`);
    return EXIT_OK;
  } finally {
    lock.value.release();
  }
}

function list(io: Io, ledger: Ledger, flags: LedgerFlags): number {
  if (flags.state !== undefined && !(PATCH_STATES as string[]).includes(flags.state)) {
    return usage(io, `unknown patch state '${flags.state}'`, `states: ${PATCH_STATES.join(', ')}`);
  }
  const rows = ledger.list().filter((e) => (flags.state === undefined || e.state === flags.state) && (flags.workstream === undefined || e.workstream === flags.workstream || e.workstream.endsWith(`/${flags.workstream}`)));
  if (flags.json) {
    for (const e of rows) io.stdout.write(`${JSON.stringify(e)}\n`);
    return EXIT_OK;
  }
  if (rows.length === 0) {
    io.stdout.write(ledger.list().length === 0 ? 'no patches in the ledger\n' : 'no patch matches\n');
    return EXIT_OK;
  }
  for (const e of rows) io.stdout.write(`${e.patch_id}  ${e.state.padEnd(12)}  ${e.workstream}  ${e.source}  ${e.summary}\n`);
  return EXIT_OK;
}

async function show(io: Io, ledger: Ledger, e: LedgerEntry, json: boolean): Promise<number> {
  let text = '';
  try {
    text = Buffer.from(await ledger.patchText(e), 'latin1').toString('utf8');
  } catch {
    text = '(the patch text is missing from .uet/patches)\n';
  }
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...e, diff: text })}\n`);
    return EXIT_OK;
  }
  const lines = [
    `patch ${e.patch_id}  ${e.state}`,
    `hash       ${e.hash}`,
    `source     ${e.source} (${e.origin})`,
    `task       ${e.task}`,
    `summary    ${e.summary}`,
    `files      ${e.files.join(', ')} (${e.lines_changed} lines changed)`,
    ...(e.quarantine ? [`quarantine ${e.quarantine}`] : []),
    'history',
    ...e.history.map((h) => `  ${h.at}  ${h.state.padEnd(12)}  ${h.run_id ?? 'by hand'.padEnd(26)}  ${h.reason}`),
    '',
  ];
  io.stdout.write(`${lines.join('\n')}${text}${text.endsWith('\n') ? '' : '\n'}`);
  return EXIT_OK;
}
