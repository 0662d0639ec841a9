/**
 * The patch ledger: one entry per patch content (by sha256), with a ULID `patch_id`, its current
 * state and an append-only history. Stored as one JSON file per entry, `.uet/ledger/<patch_id>.json`
 * (rewritten atomically on each transition; history only ever grows), and the patch text itself,
 * content-addressed, in `.uet/patches/<sha256>.diff`.
 *
 * A patch's life (the happy path along the top; `drop`/`requeue` are the human overrides):
 *
 *   created ─▶ validated ─▶ queued ─▶ applied ─▶ verified ─▶ committed
 *
 *   from \ to    │ validated queued applied verified committed apply_failed rolled_back quarantined dropped
 *   ─────────────┼──────────────────────────────────────────────────────────────────────────────────────
 *   created      │    ✓                                                                  ✓         ✓
 *   validated    │             ✓                                                         ✓         ✓
 *   queued       │                     ✓                            ✓                    ✓         ✓
 *   applied      │                             ✓                                ✓
 *   verified     │                                      ✓                       ✓
 *   committed    │                                                              ✓
 *   apply_failed │             ✓                                                         ✓         ✓
 *   rolled_back  │             ✓                                                         ✓         ✓
 *   quarantined  │             ✓ (requeue)                                                         ✓
 *   dropped      │             ✓ (requeue)
 *
 * rolled_back: reversed (its patch file changed or went away, or a FIX-loop patch did not help).
 * apply_failed is followed at once by quarantined. A queued patch (new, or requeued) is validated
 * again before it is applied.
 *
 * The table below is the truth; an illegal transition is a bug in uet and throws.
 */
import fs from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ulid } from 'ulid';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { Refusal } from './validate.js';

export type PatchState = 'created' | 'validated' | 'queued' | 'applied' | 'verified' | 'committed' | 'apply_failed' | 'rolled_back' | 'quarantined' | 'dropped';

export const TRANSITIONS: Readonly<Record<PatchState, readonly PatchState[]>> = {
  created: ['validated', 'quarantined', 'dropped'],
  validated: ['queued', 'quarantined', 'dropped'],
  queued: ['applied', 'apply_failed', 'quarantined', 'dropped'],
  applied: ['verified', 'rolled_back'],
  verified: ['committed', 'rolled_back'],
  committed: ['rolled_back'],
  apply_failed: ['quarantined', 'queued', 'dropped'],
  rolled_back: ['queued', 'quarantined', 'dropped'],
  quarantined: ['queued', 'dropped'],
  dropped: ['queued'],
};

export const PATCH_STATES = Object.keys(TRANSITIONS) as PatchState[];

export interface HistoryItem {
  readonly state: PatchState;
  /** ISO time */
  readonly at: string;
  /** the build that made the transition; null for a human override from the command line */
  readonly run_id: string | null;
  readonly reason: string;
}

export interface LedgerEntry {
  readonly patch_id: string;
  /** sha256 of the patch text */
  readonly hash: string;
  /** where the patch came from: a project file, or .uet/patches/<hash>.diff for a tool's answer */
  readonly source: string;
  readonly origin: 'file' | 'fix' | 'tool';
  readonly task: string;
  readonly workstream: string;
  readonly summary: string;
  readonly files: readonly string[];
  readonly lines_changed: number;
  state: PatchState;
  history: HistoryItem[];
  /** set once quarantined: root-relative folder holding patch.diff and reason.json */
  quarantine?: string;
}

export interface TransitionEvent {
  readonly patchId: string;
  readonly hash: string;
  readonly task: string;
  readonly from: PatchState | null;
  readonly to: PatchState;
  readonly reason: string;
}

export class IllegalTransition extends Error {}

/** What a new entry is made of: the entry's descriptive fields and the patch text. */
export type NewPatch = Pick<LedgerEntry, 'hash' | 'source' | 'origin' | 'task' | 'workstream' | 'summary' | 'files' | 'lines_changed'> & { readonly text: string };

export class Ledger {
  private constructor(
    private readonly uetDir: string,
    private readonly entries: Map<string, LedgerEntry>,
    private readonly onTransition: (ev: TransitionEvent) => void,
    private readonly now: () => number,
  ) {}

  static async open(uetDir: string, onTransition: (ev: TransitionEvent) => void = () => {}, now: () => number = Date.now): Promise<Ledger> {
    const dir = path.join(uetDir, 'ledger');
    const entries = new Map<string, LedgerEntry>();
    let names: string[] = [];
    // On this thread: every build opens the ledger and most find none, not worth a thread-pool
    // round trip; one that has entries read them one after the other anyway.
    try {
      names = readdirSync(dir);
    } catch {
      // no ledger yet
    }
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      try {
        const e = JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as LedgerEntry;
        entries.set(e.patch_id, e);
      } catch {
        // a half-written entry cannot exist (atomic writes); an unreadable one is skipped
      }
    }
    return new Ledger(uetDir, entries, onTransition, now);
  }

  /** entries, oldest first (ULIDs sort by creation time) */
  list(): LedgerEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.patch_id < b.patch_id ? -1 : 1));
  }

  byHash(hash: string): LedgerEntry | undefined {
    for (const e of this.entries.values()) if (e.hash === hash) return e;
    return undefined;
  }

  /** by patch_id, a unique prefix of one, or a hash prefix */
  find(id: string): LedgerEntry | undefined | 'ambiguous' {
    const exact = this.entries.get(id);
    if (exact) return exact;
    const hits = this.list().filter((e) => e.patch_id.startsWith(id.toUpperCase()) || e.hash.startsWith(id));
    return hits.length === 1 ? hits[0] : hits.length > 1 ? 'ambiguous' : undefined;
  }

  patchText(e: LedgerEntry): Promise<string> {
    return fs.readFile(this.patchPath(e.hash), 'latin1');
  }

  patchPath(hash: string): string {
    return path.join(this.uetDir, 'patches', `${hash}.diff`);
  }

  /** The entry of this content, created (state `created`) when it is new. */
  async admit(p: NewPatch, runId: string | null): Promise<LedgerEntry> {
    const known = this.byHash(p.hash);
    if (known) return known;
    const { text, ...fields } = p;
    const entry: LedgerEntry = {
      patch_id: ulid(this.now()),
      ...fields,
      state: 'created',
      history: [{ state: 'created', at: new Date(this.now()).toISOString(), run_id: runId, reason: `from ${p.source}` }],
    };
    // In the map before the first await: two tasks admitting the same content get one entry.
    this.entries.set(entry.patch_id, entry);
    await fs.mkdir(path.join(this.uetDir, 'patches'), { recursive: true });
    await writeFileAtomic(this.patchPath(p.hash), Buffer.from(text, 'latin1'));
    await this.save(entry);
    this.onTransition({ patchId: entry.patch_id, hash: entry.hash, task: entry.task, from: null, to: 'created', reason: `from ${p.source}` });
    return entry;
  }

  async transition(e: LedgerEntry, to: PatchState, reason: string, runId: string | null): Promise<void> {
    const from = e.state;
    if (!TRANSITIONS[from].includes(to)) throw new IllegalTransition(`patch ${e.patch_id}: ${from} -> ${to} is not a transition of the ledger (${reason})`);
    e.state = to;
    e.history.push({ state: to, at: new Date(this.now()).toISOString(), run_id: runId, reason });
    await this.save(e);
    this.onTransition({ patchId: e.patch_id, hash: e.hash, task: e.task, from, to, reason });
  }

  /** Copy the patch to .uet/quarantine/<patch_id>/ with reason.json, then move the entry to quarantined. */
  async quarantine(e: LedgerEntry, refusal: Refusal, runId: string | null): Promise<string> {
    const rel = path.posix.join('.uet', 'quarantine', e.patch_id);
    const dir = path.join(this.uetDir, 'quarantine', e.patch_id);
    await fs.mkdir(dir, { recursive: true });
    await fs.copyFile(this.patchPath(e.hash), path.join(dir, 'patch.diff'));
    const reason = { patch_id: e.patch_id, hash: e.hash, source: e.source, task: e.task, run_id: runId, at: new Date(this.now()).toISOString(), ...refusal };
    await writeFileAtomic(path.join(dir, 'reason.json'), `${JSON.stringify(reason, null, 2)}\n`);
    e.quarantine = rel;
    await this.transition(e, 'quarantined', `${refusal.code}: ${refusal.message}`, runId);
    return rel;
  }

  private async save(e: LedgerEntry): Promise<void> {
    const dir = path.join(this.uetDir, 'ledger');
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, `${e.patch_id}.json`), `${JSON.stringify(e, null, 2)}\n`);
  }
}
