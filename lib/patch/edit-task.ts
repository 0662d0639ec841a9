/**
 * An edit task: its patch files (byte order of path) applied as one unit, incrementally.
 *
 * After each application uet records, per task, which patches are in place and, for every file
 * they touch, the hash before and after (`.uet/patch-tasks/<task>.json`; the before contents are
 * kept in `.uet/blobs/`). On the next build:
 *   - same patches, files equal the recorded result          -> fresh, nothing read further
 *   - files equal the recorded result, patches changed        -> put back the recorded pre-image
 *                                                                (the old patches reversed) and apply
 *   - files equal the recorded pre-image                      -> apply
 *   - anything else                                           -> E_PATCH_DRIFT naming the file
 * Every check (validation, every hunk of every patch) happens in memory before the first write;
 * a failure writes nothing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { taskFileName } from '../build/explain-store.js';
import type { FilesScope, TaskSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { applyInMemory, readTree, writeTree } from './apply.js';
import type { TreeView } from './apply.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { TRANSITIONS } from './ledger.js';
import type { ParsedPatch } from './parse.js';
import type { PatchPolicy } from './policy.js';
import type { PathProbe, Refusal } from './validate.js';
import { validatePatch } from './validate.js';

export const sha256Text = (latin1: string): string => createHash('sha256').update(Buffer.from(latin1, 'latin1')).digest('hex');
const hashOf = (content: string | null): string | null => (content === null ? null : sha256Text(content));

interface TaskRecord {
  readonly patches: ReadonlyArray<{ readonly source: string; readonly hash: string; readonly patch_id: string }>;
  readonly files: Readonly<Record<string, { readonly before: string | null; readonly after: string | null }>>;
}

export type EditOutcome =
  | { readonly status: 'fresh' | 'applied'; readonly reason: string; readonly digest: string | undefined; readonly changed: readonly string[]; readonly patchIds: readonly string[] }
  | { readonly status: 'failed'; readonly reason: string; readonly detail: string };

/** One patch to apply: its text, where it came from. */
export interface PatchSource {
  readonly source: string;
  readonly text: string;
  readonly origin: 'file' | 'fix' | 'tool';
}

export interface EditContext {
  readonly root: string;
  readonly uetDir: string;
  readonly ledger: Ledger;
  readonly probe: PathProbe;
  readonly scope: FilesScope;
  readonly policy: PatchPolicy;
  readonly runId: string;
  readonly dryRun: boolean;
}

function recordPath(uetDir: string, taskId: string): string {
  return path.join(uetDir, 'patch-tasks', `${taskFileName(taskId)}.json`);
}

async function loadRecord(uetDir: string, taskId: string): Promise<TaskRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(recordPath(uetDir, taskId), 'utf8')) as TaskRecord;
  } catch {
    return undefined;
  }
}

export async function forgetRecord(uetDir: string, taskId: string): Promise<void> {
  await fs.rm(recordPath(uetDir, taskId), { force: true });
}

function resultDigest(files: TaskRecord['files']): string {
  return `patched:${sha256Text(
    Object.keys(files)
      .sort()
      .map((p) => `${p}=${files[p]!.after ?? '-'}`)
      .join('\n'),
  )}`;
}

const failed = (reason: string, detail: string): EditOutcome => ({ status: 'failed', reason, detail });

/** The state a refused patch moves to, when the ledger allows it from where it is. */
async function refuse(ctx: EditContext, e: LedgerEntry, r: Refusal): Promise<string> {
  if (!TRANSITIONS[e.state].includes('quarantined')) return `${r.code}: ${r.message}`;
  const where = await ctx.ledger.quarantine(e, r, ctx.runId);
  return `${r.code}: ${r.message} (quarantined: ${where})`;
}

/** Move an entry along created -> validated -> queued (whatever part of it is still ahead). */
async function enqueue(ctx: EditContext, e: LedgerEntry): Promise<void> {
  if (e.state === 'created') await ctx.ledger.transition(e, 'validated', 'format, scope and policy checked', ctx.runId);
  if (e.state === 'validated' || e.state === 'rolled_back' || e.state === 'apply_failed') await ctx.ledger.transition(e, 'queued', 'waiting to be applied', ctx.runId);
}

/**
 * Apply the given patches for a task (the patch files of an edit task, or an edit task's files plus
 * FIX-loop patches). Expected failures are outcomes, never throws.
 */
export async function applyTaskPatches(task: TaskSpec, sources: readonly PatchSource[], ctx: EditContext): Promise<EditOutcome> {
  const { ledger } = ctx;
  const record = await loadRecord(ctx.uetDir, task.fullId);
  const items: Array<{ src: PatchSource; hash: string; entry: LedgerEntry | undefined }> = [];
  for (const src of sources) {
    const hash = sha256Text(src.text);
    items.push({ src, hash, entry: ledger.byHash(hash) });
  }
  const active = items.filter((i) => i.entry?.state !== 'dropped');
  const quarantined = active.find((i) => i.entry?.state === 'quarantined');
  if (quarantined) {
    const e = quarantined.entry!;
    const why = e.history[e.history.length - 1]?.reason ?? '';
    return failed(`patch ${quarantined.src.source} is quarantined (${e.quarantine ?? ''}): ${why}`, `run 'uet ledger requeue ${e.patch_id}' to try it again`);
  }

  // Validate everything (nothing is written yet).
  const parsed: ParsedPatch[] = [];
  for (const i of active) {
    const v = await validatePatch(i.src.text, { scope: ctx.scope, policy: ctx.policy, probe: ctx.probe });
    if (!v.ok) {
      if (ctx.dryRun) return failed(`${i.src.source}: ${v.error.code}: ${v.error.message}`, 'dry run: would be quarantined');
      const e = await admit(ctx, task, i.src, i.hash, undefined);
      return failed(`${i.src.source}: ${await refuse(ctx, e, v.error)}`, `the patch was not applied; nothing was written`);
    }
    parsed.push(v.value);
  }

  const touched = new Set<string>(Object.keys(record?.files ?? {}));
  for (const p of parsed) for (const f of p.paths) touched.add(f);
  const current = await readTree(ctx.root, touched);
  const curHash = (p: string): string | null => hashOf(current.get(p) ?? null);
  const recorded = Object.entries(record?.files ?? {});
  const atResult = record !== undefined && recorded.every(([p, h]) => curHash(p) === h.after);
  const sameList = record !== undefined && record.patches.length === active.length && record.patches.every((r, i) => r.hash === active[i]!.hash);
  if (record && sameList && atResult) {
    return { status: 'fresh', reason: 'patched files equal the recorded result', digest: resultDigest(record.files), changed: [], patchIds: record.patches.map((p) => p.patch_id) };
  }
  const atBefore = record !== undefined && recorded.every(([p, h]) => curHash(p) === h.before);
  if (record && !atResult && !atBefore) {
    const drifted = recorded.find(([p, h]) => curHash(p) !== h.after && curHash(p) !== h.before)?.[0] ?? recorded.find(([p, h]) => curHash(p) !== h.after)![0];
    return failed(
      `E_PATCH_DRIFT ${drifted} matches neither what uet's patches made of it nor what it was before them; nothing was written`,
      `put ${drifted} back (e.g. git checkout -- ${drifted}) or fold the hand edit into the patch, then build again`,
    );
  }

  // The tree the patches apply to: the recorded pre-image when the old patches are still in place.
  const base = new Map(current);
  if (record && atResult && !atBefore) {
    for (const [p, h] of recorded) base.set(p, h.before === null ? null : await fs.readFile(blobPath(ctx.uetDir, h.before), 'latin1'));
  }
  if (ctx.dryRun) {
    return { status: 'applied', reason: `dry run: would apply ${active.length} patch${active.length === 1 ? '' : 'es'}`, digest: undefined, changed: [], patchIds: [] };
  }

  const entries: LedgerEntry[] = [];
  for (let i = 0; i < active.length; i++) entries.push(await admit(ctx, task, active[i]!.src, active[i]!.hash, parsed[i]));
  for (const e of entries) await enqueue(ctx, e);

  // Apply one patch at a time, in memory, to know which one failed.
  let view: Map<string, string | null> = base;
  for (let i = 0; i < parsed.length; i++) {
    const r = applyInMemory([parsed[i]!], view as TreeView);
    if (!r.ok) {
      const e = entries[i]!;
      const message = `${r.error.path}: ${r.error.detail}`;
      if (e.state === 'queued') {
        await ledger.transition(e, 'apply_failed', message, ctx.runId);
        const where = await ledger.quarantine(e, { code: 'E_PATCH_APPLY', message, path: r.error.path }, ctx.runId);
        return failed(`${active[i]!.src.source}: E_PATCH_APPLY ${message} (quarantined: ${where})`, 'nothing was written');
      }
      return failed(`${active[i]!.src.source}: E_PATCH_APPLY ${message}`, 'nothing was written');
    }
    view = new Map(view);
    for (const [p, c] of r.value) view.set(p, c);
  }

  const files: Record<string, { before: string | null; after: string | null }> = {};
  const writes = new Map<string, string | null>();
  for (const p of [...touched].sort()) {
    const before = base.get(p) ?? null;
    const after = view.get(p) ?? null;
    if (before === after && !(record?.files[p] !== undefined)) continue; // touched by no patch after all
    files[p] = { before: hashOf(before), after: hashOf(after) };
    if (before !== null) await putBlob(ctx.uetDir, before);
    if ((current.get(p) ?? null) !== after) writes.set(p, after);
  }
  await writeTree(ctx.root, writes);
  const newRecord: TaskRecord = { patches: active.map((a, i) => ({ source: a.src.source, hash: a.hash, patch_id: entries[i]!.patch_id })), files };
  await fs.mkdir(path.dirname(recordPath(ctx.uetDir, task.fullId)), { recursive: true });
  await writeFileAtomic(recordPath(ctx.uetDir, task.fullId), JSON.stringify(newRecord, null, 2));

  for (const e of entries) if (e.state === 'queued') await ledger.transition(e, 'applied', `applied by ${task.fullId}`, ctx.runId);
  const kept = new Set(active.map((a) => a.hash));
  for (const old of record?.patches ?? []) {
    const e = ledger.byHash(old.hash);
    if (!kept.has(old.hash) && e && TRANSITIONS[e.state].includes('rolled_back')) await ledger.transition(e, 'rolled_back', `reversed: no longer among ${task.fullId}'s patches`, ctx.runId);
  }
  const verb = record && atResult && !atBefore ? 'reversed the old patches and applied' : 'applied';
  return { status: 'applied', reason: `${verb} ${active.length} patch${active.length === 1 ? '' : 'es'}`, digest: resultDigest(files), changed: [...writes.keys()], patchIds: entries.map((e) => e.patch_id) };
}

/**
 * Put back the pre-image of a task's applied patches and forget them (the FIX loop giving up).
 * Refuses (writing nothing) when a file is no longer what the patches made of it.
 */
export async function revertTaskPatches(task: TaskSpec, ctx: EditContext): Promise<{ patchIds: string[]; changed: string[]; problem?: string }> {
  const record = await loadRecord(ctx.uetDir, task.fullId);
  if (!record) return { patchIds: [], changed: [] };
  const files = Object.entries(record.files);
  const current = await readTree(ctx.root, Object.keys(record.files));
  const drifted = files.find(([p, h]) => hashOf(current.get(p) ?? null) !== h.after);
  if (drifted) return { patchIds: [], changed: [], problem: `E_PATCH_DRIFT ${drifted[0]} changed after the fix patches were applied: they were left in place` };
  const writes = new Map<string, string | null>();
  for (const [p, h] of files) writes.set(p, h.before === null ? null : await fs.readFile(blobPath(ctx.uetDir, h.before), 'latin1'));
  await writeTree(ctx.root, writes);
  await forgetRecord(ctx.uetDir, task.fullId);
  return { patchIds: record.patches.map((p) => p.patch_id), changed: [...writes.keys()] };
}

/** The ledger entry of a patch (created if new). */
async function admit(ctx: EditContext, task: TaskSpec, src: PatchSource, hash: string, parsed: ParsedPatch | undefined): Promise<LedgerEntry> {
  const summary = parsed?.summary !== undefined ? Buffer.from(parsed.summary, 'latin1').toString('utf8') : path.posix.basename(src.source);
  return ctx.ledger.admit(
    {
      hash,
      text: src.text,
      source: src.source,
      origin: src.origin,
      task: task.fullId,
      workstream: `${task.phase}/${task.workstream}`,
      summary,
      files: parsed?.paths ?? [],
      lines_changed: parsed?.linesChanged ?? 0,
    },
    ctx.runId,
  );
}

function blobPath(uetDir: string, hash: string): string {
  return path.join(uetDir, 'blobs', hash);
}

async function putBlob(uetDir: string, content: string): Promise<void> {
  const file = blobPath(uetDir, sha256Text(content));
  try {
    await fs.access(file);
    return;
  } catch {
    // not stored yet
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, Buffer.from(content, 'latin1'));
}

/** Read patch files as latin1 text (byte-exact). */
export async function readPatchFiles(root: string, rels: readonly string[]): Promise<Result<PatchSource[], string>> {
  const out: PatchSource[] = [];
  for (const rel of rels) {
    try {
      out.push({ source: rel, text: await fs.readFile(path.join(root, rel), 'latin1'), origin: 'file' });
    } catch (e) {
      return err(`${rel}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return ok(out);
}
