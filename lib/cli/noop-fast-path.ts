/**
 * The no-op fast path: `uet build [targets]` answered from the no-op proof the last identical
 * build left (lib/build/noop-proof.ts), before the command-line parser, the spec, the graph or
 * the freshness log are loaded. It stat's what that build consulted; if anything differs, or
 * the command asks for anything a plain build would not print, it declines and the full build
 * runs (told which files changed, when only a few did). Set UET_NO_FAST_PATH=1 to always decline.
 *
 * Before all that, a build in a project whose lock a running `uet serve` holds is handed to it
 * (lib/cli/serve-client.ts): that process runs this same path, then the full build.
 *
 * Kept to node builtins and a few tiny modules: its start-up is most of its cost.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChangedPath, NoopProof, ProofContext, ProofHint } from '../build/noop-proof.js';
import { changedPaths, formatProof, headerMismatch, listingDigest, listingUnchanged, parseProof, proofFileName, settledProof, signature, statUnder, uetBuildId } from '../build/noop-proof.js';
import { writeWholeRunLog } from '../events/run-file.js';
import { findProjectRoot } from '../spec/project-root.js';
import { fastStat } from '../util/fast-stat.js';
import { markedListing } from '../util/marked-listing.js';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import { runId } from '../util/run-id.js';
import { statQuiet } from '../util/stat-quiet.js';
import { summaryLine } from './summary.js';
import type { ClientSignals } from './serve-client.js';
import { runServedBuild } from './serve-client.js';
import { loadBuiltin } from '../util/import-module.js';

export interface FastPathIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): void; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): void };
}

export interface FastPathOptions {
  /** this process is the `uet serve` holding the lock: the build is answered here */
  readonly serving?: boolean;
  /** Ctrl-C while a running `uet serve` builds for us (forwarded to it) */
  readonly signals?: ClientSignals;
  /** how the proof's paths are checked (`uet serve` splits them with a thread of its own) */
  readonly check?: ProofCheck;
}

/** The paths that changed since a proof, up to `limit` (see changedPaths in lib/build/noop-proof.ts). */
export interface ProofCheck {
  changedPaths(bytes: Buffer, proof: NoopProof, ctx: ProofContext, limit: number): Promise<ChangedPath[]>;
  /** the proof its last check found unchanged was signed anew (settledProof) as these bytes */
  proofSettled?(bytes: Buffer): void;
}

/**
 * Where `build` is in argv, and the -C folder given before it, whatever flags follow it;
 * undefined for another command.
 */
export function buildCommandAt(argv: readonly string[]): { index: number; dir?: string } | undefined {
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === 'build') return dir !== undefined ? { index: i, dir } : { index: i };
    if ((a === '-C' || a === '--dir') && argv[i + 1] !== undefined) dir = argv[++i];
    else if (a.startsWith('--dir=')) dir = a.slice('--dir='.length);
    else return undefined;
  }
  return undefined;
}

/** `build` with only the flags that leave a fresh build's output unchanged; undefined otherwise. */
export function parseFastArgs(argv: readonly string[]): { dir?: string; targets: string[] } | undefined {
  const at = buildCommandAt(argv);
  if (!at) return undefined;
  const targets: string[] = [];
  for (let i = at.index + 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) targets.push(a);
    else if (a === '--quiet' || a === '--keep-going' || a === '--no-cache') continue;
    else if (a === '-j' || a === '--jobs') {
      if (!isJobs(argv[++i])) return undefined;
    } else if (a.startsWith('--jobs=')) {
      if (!isJobs(a.slice('--jobs='.length))) return undefined;
    } else if (/^-j\d+$/.test(a)) {
      if (!isJobs(a.slice(2))) return undefined;
    } else return undefined;
  }
  return at.dir !== undefined ? { dir: at.dir, targets } : { targets };
}

function isJobs(v: string | undefined): boolean {
  if (v === undefined || !/^\d+$/.test(v)) return false;
  return Number(v) >= 1;
}

const NO_SIGNALS: ClientSignals = { onInterrupt: () => () => {} };

/** Past this many changed paths the full build decides every task anyway. */
const MAX_HINTED_CHANGES = 1000;

export type FastPathResult =
  | { readonly kind: 'done'; readonly code: number }
  /** run the full build; with a hint when the proof failed on a few files only */
  | { readonly kind: 'declined'; readonly hint?: ProofHint };

const DECLINED: FastPathResult = { kind: 'declined' };

/**
 * Done (the proof held: the summary is printed, the run recorded; or a running `uet serve` ran
 * the build), or declined: run the full build.
 */
export async function tryNoopFastPath(argv: readonly string[], io: FastPathIo, opts: FastPathOptions = {}): Promise<FastPathResult> {
  const t0 = Date.now();
  const build = buildCommandAt(argv);
  if (!build) return DECLINED;
  const root = findProjectRoot(path.resolve(io.cwd, build.dir ?? '.'));
  if (!root) return DECLINED;
  const uetDir = path.join(root, '.uet');
  // Another process holds the lock: a running `uet serve` is handed the build; any other build
  // (or one that crashed holding the lock) is waited for by the full build.
  if (opts.serving !== true && fs.existsSync(path.join(uetDir, 'lock'))) {
    const served = await runServedBuild(argv, uetDir, io, opts.signals ?? NO_SIGNALS);
    return served !== undefined ? { kind: 'done', code: served } : DECLINED;
  }
  if (io.env['UET_NO_FAST_PATH'] === '1') return DECLINED;
  const args = parseFastArgs(argv);
  if (!args) return DECLINED;
  const proofFile = path.join(uetDir, 'noop', proofFileName(args.targets));
  let text: Buffer;
  try {
    text = fs.readFileSync(proofFile);
  } catch {
    return DECLINED;
  }
  const proof = parseProof(text);
  if (!proof) return DECLINED;
  const freshLog = path.join(uetDir, 'fresh.log');
  const state = signature(statQuiet(freshLog));
  const stat = statUnder(root, process.cwd(), fastStat(freshLog));
  // node:crypto is loaded only when something needs hashing (a key variable, a racy file)
  const { createHash } = proof.envNames.length > 0 || proof.signed.digests.size > 0 ? loadBuiltin<typeof import('node:crypto')>('node:crypto') : { createHash: undefined };
  const sha256 = (data: string | Buffer): string => (createHash ? createHash('sha256').update(data).digest('hex') : '');
  const digestOf = (rel: string, folder: boolean): string | undefined => {
    try {
      const abs = path.join(root, rel);
      return folder ? listingDigest(fs.readdirSync(abs), sha256) : sha256(fs.readFileSync(abs));
    } catch {
      return undefined;
    }
  };
  const ctx = { uet: uetBuildId(), root, targets: args.targets, env: io.env, state, stat, sha256, digestOf };
  if (headerMismatch(proof, ctx)) return DECLINED;
  const changed = opts.check ? await opts.check.changedPaths(text, proof, ctx, MAX_HINTED_CHANGES + 1) : changedPaths(proof, ctx, MAX_HINTED_CHANGES + 1);
  if (changed.length > 0) {
    if (changed.length > MAX_HINTED_CHANGES) return DECLINED;
    // The hinted build's proof keeps this one's entries for what it does not decide: their
    // racy digests settled first, as a no-op's check would (settle), or the digests of the
    // files a cold build wrote last would pass from proof to proof, re-read by every build
    // (~2,500 files, ~50 ms of a touch after a cold build of 10,000 tasks) until a no-op.
    // a folder with the names it had (a file saved by a rename, a swap file come and gone)
    // reaches nothing: only its stat is signed anew
    const listingOf = (rel: string): string | undefined => {
      const names = markedListing(path.join(root, rel));
      return names && listingDigest(names, sha256);
    };
    const relisted = new Set(changed.filter((c) => c.folder && listingUnchanged(proof.signed, c.path, listingOf)));
    const rest = changed.filter((c) => !relisted.has(c));
    const hint = { proof: settledProof(proof, t0) ?? proof, changed: rest.map((c) => c.path), folders: rest.filter((c) => c.folder).map((c) => c.path), relisted: [...relisted].map((c) => c.path) };
    return { kind: 'declined', hint };
  }

  const id = runId();
  const durationMs = Date.now() - t0;
  const at = Date.now();
  writeWholeRunLog(uetDir, id, [
    { type: 'run-start', runId: id, at: t0, targets: args.targets, argv: [...argv], pid: process.pid, tasks: proof.tasks },
    { type: 'noop-proof', runId: id, at, paths: proof.signed.paths.length },
    { type: 'run-end', runId: id, at, status: 'success', counts: proof.counts, durationMs },
  ]);
  for (const w of proof.warnings) io.stderr.write(`${w}\n`);
  const outcome = { counts: proof.counts, gatesFailed: [], nonBlockingGateFailures: [], integrationFailed: [], unrecorded: [], interrupted: false, failed: false };
  io.stdout.write(`${summaryLine(proof.label, proof.tasks, outcome, durationMs, false)}\n`);
  settle(proofFile, proof, t0, opts.check);
  return { kind: 'done', code: 0 };
}

/**
 * Once answered: the proof signed anew when some of its racy entries no longer are (see
 * settledProof), so that later checks stat them rather than read them. Without the lock, a
 * build may have written a newer proof meanwhile; replacing it with this one is never wrong (a
 * check of it finds what that build changed, and the full build decides), only slower once.
 */
function settle(proofFile: string, proof: NoopProof, checkedAt: number, check: ProofCheck | undefined): void {
  const settled = settledProof(proof, checkedAt);
  const bytes = settled && formatProof(settled);
  if (!bytes) return;
  try {
    writeFileAtomicSyncNoFsync(proofFile, bytes);
  } catch {
    return; // only a speed-up
  }
  check?.proofSettled?.(bytes);
}
