/**
 * Writing the no-op proof (lib/build/noop-proof.ts) at the end of a successful build, and
 * saying which builds can have one at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BuildOutcome } from '../build/runner.js';
import type { NoopProof, SignedEntry, SignedPaths } from '../build/noop-proof.js';
import { RACY_MS, envDigest, indexOfPath, listingDigest, formatProof, proofFileName, signEntries, signature, specFilesDigest, statUnder, uetBuildId } from '../build/noop-proof.js';
import type { SuccessRecord } from '../cache/types.js';
import type { TaskStatus } from '../events/types.js';
import type { CompiledProject } from '../graph/project.js';
import { listSpecFiles } from '../spec/spec-files.js';
import { IGNORED_DIR_NAMES, globFolder } from '../watch/scope.js';
import { sha256 } from '../hash/digest.js';
import type { FileDigest, FileHasher, Globber, StatLike } from '../hash/types.js';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import { statQuiet, statSignedQuiet } from '../util/stat-quiet.js';
import { removeFile } from '../util/remove-file.js';
import { listFolder, markedListing } from '../util/marked-listing.js';

/**
 * Why a plan can never be proven fresh by stats alone; undefined when it can. Each of these
 * reads something besides the files the build consults, or does work on every build.
 */
export function unprovable(project: CompiledProject, plan: ReadonlySet<string>): string | undefined {
  const tools = project.spec.config.tools;
  for (const key of plan) {
    const attrs = project.graph.getNodeAttributes(key);
    if (attrs.kind === 'gate') {
      if (attrs.gate.run !== undefined) return `${attrs.gate.fullId} runs a command`;
      continue;
    }
    if (attrs.kind !== 'task') continue;
    const t = attrs.task;
    if (t.inputs === undefined) return `${t.fullId} declares no inputs`;
    if (t.kind === 'edit' || t.patches.length > 0 || t.fix !== undefined) return `${t.fullId} applies patches`;
    const tool = t.tool !== undefined ? tools[t.tool] : undefined;
    if (tool?.version !== undefined) return `${t.fullId} uses tool ${t.tool}, whose version command runs every build`;
    if (tool?.produces === 'patch') return `${t.fullId} uses a tool that produces patches`;
    if (project.workstreams.get(`${t.phase}/${t.workstream}`)?.isolation === 'worktree') return `${t.fullId} runs in a worktree`;
  }
  return undefined;
}

/**
 * What a build's hasher answered, per path: the latest digest, and the paths that got two
 * different answers with no forget() between (a file changed while the build used it). A
 * forget() (uet wrote the file: outputs, restores) starts the path afresh.
 */
export class HashObserver {
  readonly digests = new Map<string, FileDigest | null>();
  readonly conflicts = new Set<string>();

  wrap(inner: FileHasher): FileHasher {
    const seen = (rel: string, d: FileDigest | null): void => {
      if (this.digests.has(rel) && !sameDigest(this.digests.get(rel)!, d)) this.conflicts.add(rel);
      this.digests.set(rel, d);
    };
    return {
      hashFile: async (rel) => {
        const d = await inner.hashFile(rel);
        seen(rel, d);
        return d;
      },
      hashFiles: async (rels) => {
        const ds = await inner.hashFiles(rels);
        for (const [rel, d] of ds) seen(rel, d);
        return ds;
      },
      forget: (rel) => {
        this.digests.delete(rel);
        inner.forget(rel);
      },
      flush: () => inner.flush(),
    };
  }
}

function sameDigest(a: FileDigest | null, b: FileDigest | null): boolean {
  if (a === null || b === null) return a === b;
  return a.hash === b.hash && a.size === b.size && a.mode === b.mode;
}

export interface ProofFacts {
  readonly root: string;
  readonly uetDir: string;
  readonly project: CompiledProject;
  readonly plan: ReadonlySet<string>;
  readonly targets: readonly string[];
  readonly label: string;
  readonly taskCount: number;
  readonly outcome: BuildOutcome;
  readonly observed: HashObserver;
  /** each task's recorded success (the freshness log) */
  readonly records: (taskId: string) => SuccessRecord | undefined;
  readonly globber: Globber;
  /** the build's hasher: re-reads what changed during the build (its stat index vouches for the rest) */
  readonly hasher: FileHasher;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly warnings: readonly string[];
  /** the spec files the compiled graph came from, with their content hashes (LoadedGraph.files) */
  readonly specFiles: ReadonlyArray<readonly [string, string]>;
  readonly startedAt: number;
  /**
   * A build that decided only the nodes some changed files reach (`decided`): the last proof,
   * whose other entries stand. The tasks it did not decide have the records that proof vouched
   * for (their outputs among its entries, none of them changed, or their tasks would have been
   * decided), so only the decided tasks' records are read again.
   */
  readonly base?: {
    readonly signed: SignedPaths;
    readonly changed: ReadonlySet<string>;
    readonly envNames: readonly string[];
    readonly decided: ReadonlySet<string>;
    /**
     * A spec file changed since that proof, and the build decided the nodes the new spec
     * redefined (lib/cli/proof-hint.ts): those may read other variables, or not be provable.
     */
    readonly respecified: boolean;
    /** folders whose stat changed since that proof and whose names did not (ProofHint.relisted): signed anew */
    readonly relisted: readonly string[];
  };
  /** told the proof's bytes once they are written */
  readonly onWritten?: (bytes: Buffer) => void;
}

/**
 * Writes the proof after a successful build whose result stats can vouch for; otherwise removes
 * any older proof for these targets. Returns why none was written, or undefined.
 */
export async function writeNoopProof(f: ProofFacts): Promise<string | undefined> {
  const file = path.join(f.uetDir, 'noop', proofFileName(f.targets));
  removeFile(file);
  // Every spec file is signed. A build whose graph the last proof vouched for did not hash them
  // (lib/cli/proof-hint.ts, specVouchedBy): the proof it builds on has them, unless it decided
  // the whole plan after all, which then hashes them here.
  if (!f.base || f.base.respecified) {
    const unsigned = f.specFiles.map(([file]) => file).filter((file) => !f.observed.digests.has(file));
    if (unsigned.length > 0) await f.hasher.hashFiles(unsigned);
  }
  const why = whyNoProof(f) ?? (await signConsulted(f));
  if (typeof why === 'string') return why;
  const envNames = [...proofEnvNames(f)].sort();
  const counts: Record<TaskStatus, number> = { fresh: f.taskCount, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0 };
  const proof: NoopProof = {
    uet: uetBuildId(),
    root: f.root,
    targets: f.targets,
    envNames,
    envDigest: envDigest(envNames, f.env, sha256),
    state: signature(statQuiet(path.join(f.uetDir, 'fresh.log'))),
    label: f.label,
    tasks: f.taskCount,
    counts,
    warnings: f.warnings,
    specDigest: specFilesDigest(f.specFiles, sha256),
    signed: signEntries(why, f.base && { signed: f.base.signed, dropped: f.base.changed }),
  };
  const bytes = formatProof(proof);
  if (bytes === undefined) return 'a path holds a newline';
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // without fsync: a crash leaves the old proof (the stats it signed no longer match what
    // changed) or a cut one (parseProof refuses it): a full build either way. On this thread:
    // the build has nothing else to do, and a megabyte's four thread-pool round trips took
    // longer than its write.
    writeFileAtomicSyncNoFsync(file, bytes);
  } catch {
    // only a shortcut: the next build decides task by task
    return 'could not write it';
  }
  f.onWritten?.(bytes);
  return undefined;
}

function whyNoProof(f: ProofFacts): string | undefined {
  const o = f.outcome;
  if (o.failed || o.interrupted || o.nonBlockingGateFailures.length > 0) return 'the build did not succeed';
  if (o.unrecorded.length > 0) return `${o.unrecorded[0]} will run again`;
  if (o.counts.fresh + o.counts.ran + o.counts.restored !== f.taskCount) return 'not every task succeeded';
  if (f.observed.conflicts.size > 0) return `${[...f.observed.conflicts][0]} changed while the build used it`;
  const { unstable } = f.globber.consulted();
  if (unstable.length > 0) return `${unstable[0]} changed while the build listed it`;
  // as provable as when the last proof was written: the same spec, the same targets; after a
  // spec edit, the nodes it redefined are checked (the rest have their old definitions)
  if (!f.base) return unprovable(f.project, f.plan);
  return f.base.respecified ? unprovable(f.project, f.base.decided) : undefined;
}

/**
 * The variables whose values feed the keys. A hinted build's targets are the last proof's, and
 * so is the spec of every task it did not decide: that proof's names stand, with those of the
 * nodes a spec edit redefined. (A name no task reads any more stays until a build decides
 * every task: the proof then only watches one variable too many.)
 */
function proofEnvNames(f: ProofFacts): ReadonlySet<string> {
  if (!f.base) return keyEnvNames(f.project, f.plan);
  if (!f.base.respecified) return new Set(f.base.envNames);
  return new Set([...f.base.envNames, ...keyEnvNames(f.project, f.base.decided)]);
}

/**
 * Every consulted path with its stat now, checked against what the build saw:
 * - a folder a glob listed must have the stat it had just before that listing, and, changed
 *   in the tick of that listing, the same names;
 * - a path looked up by stat must still exist, or still not;
 * - every task must have a recorded success;
 * - a file must have the content the build hashed (or recorded, for outputs): stats vouch for files unchanged since well
 *   before the build; one changed later is hashed again now (through the stat index) and
 *   compared, and keeps its digest in the proof while its stat is racy;
 * - spec folders changed since just before the build must still hold the spec files it loaded;
 * - a folder changed so recently that a second change could keep its stat carries a digest of
 *   its listing, which the check lists again.
 * The entries, or why there is no proof.
 */
async function signConsulted(f: ProofFacts): Promise<Map<string, SignedEntry> | string> {
  const stat = statUnder(f.root, process.cwd(), statSignedQuiet);
  const stableBefore = f.startedAt - RACY_MS;
  const changedSince = (st: StatLike, t: number): boolean => Math.max(st.mtimeMs, st.ctimeMs) >= t;
  /** what this build signs anew (signEntries merges it over what stands of the last proof) */
  const entries = new Map<string, SignedEntry>();
  // what the tasks this build did not examine consulted stands as the last proof signed it
  // (checked by the fast path at this build's start); what it consulted again is signed anew
  const base = f.base;
  const standsInBase = (rel: string): boolean => base !== undefined && !base.changed.has(rel) && indexOfPath(base.signed, rel) >= 0;
  const writtenAt = Date.now();
  /** a folder changed recently: its listing is compared, and kept as a digest while its stat is racy */
  const recentFolder = (rel: string, now: StatLike, names: readonly string[], marked: readonly string[]): SignedEntry | string => {
    const current = listQuiet(path.join(f.root, rel));
    const digest = listingDigest(names, sha256);
    if (current === undefined || listingDigest(current, sha256) !== digest) return `folder ${rel || '.'} changed after it was listed`;
    const listing = listingDigest(marked, sha256);
    return changedSince(now, writtenAt - RACY_MS) ? { stat: now, digest, listing } : { stat: now, listing };
  };
  const { dirs, probed } = f.globber.consulted();
  for (const [rel, listed] of dirs) {
    const now = stat(rel);
    if (signature(now) !== signature(listed.stat)) return `folder ${rel || '.'} changed after it was listed`;
    // changed in the tick of its listing: a second change could have kept its stat
    const entry = now !== undefined && changedSince(now, listed.at - RACY_MS) ? recentFolder(rel, now, listed.names, listed.marked) : { stat: now, listing: listingDigest(listed.marked, sha256) };
    if (typeof entry === 'string') return entry;
    entries.set(rel, entry);
  }
  for (const [rel, existed] of probed) {
    const now = stat(rel);
    if ((now !== undefined) !== existed) return `${rel} appeared or vanished during the build`;
    if (!entries.has(rel) && !standsInBase(rel)) entries.set(rel, { stat: now });
  }
  // what the next build will compare: every recorded output (a restored leaf's outputs were
  // never hashed by this build), and everything this build hashed
  const files = new Map(f.observed.digests);
  for (const key of f.base ? f.base.decided : f.plan) {
    const attrs = f.project.graph.getNodeAttributes(key);
    if (attrs.kind !== 'task') continue;
    const rec = f.records(attrs.task.fullId);
    if (!rec) return `${attrs.task.fullId} has no recorded success`;
    for (const o of rec.outputs) {
      const recorded: FileDigest = { hash: o.hash, size: o.size, mode: o.mode };
      const seen = files.get(o.path);
      if (seen !== undefined && !sameDigest(seen, recorded)) return `${o.path} changed after ${attrs.task.fullId} recorded it`;
      // an unexamined task's outputs are in the last proof already
      if (seen === undefined && (entries.has(o.path) || standsInBase(o.path))) continue;
      files.set(o.path, recorded);
    }
  }
  for (const [rel, seen] of files) {
    const now = stat(rel);
    if (seen === null) {
      if (now !== undefined && (now.mode & fs.constants.S_IFMT) === fs.constants.S_IFREG) return `${rel} appeared during the build`;
      entries.set(rel, { stat: now });
      continue;
    }
    if (now === undefined) return `${rel} vanished during the build`;
    if (!changedSince(now, stableBefore)) {
      entries.set(rel, { stat: now });
      continue;
    }
    // Racy now, and what its stat shows (a regular file, its size and mode) as the build saw
    // it: the proof carries the digest the build saw, unread. Every check re-reads each file
    // that carries a digest and compares (withChangedDigests), so content changed since the
    // build read it is found there, as it was here by reading it again (marked stale). Reading
    // them here was ~1,300 files after a cold build of 10,000 tasks, and every output of a
    // cache hit.
    if (changedSince(now, writtenAt - RACY_MS) && (now.mode & fs.constants.S_IFMT) === fs.constants.S_IFREG && now.size === seen.size && (now.mode & 0o777) === seen.mode) {
      entries.set(rel, { stat: now, digest: seen.hash });
      continue;
    }
    const again = await f.hasher.hashFile(rel);
    const after = stat(rel);
    // changed after the build read it (an edit saved while the build ran, or just after a
    // served build answered): the proof stands for the rest; the next build decides again
    // what reads this path
    if (!again || !sameDigest(again, seen) || signature(after) !== signature(now)) {
      entries.set(rel, { stat: now, stale: true });
      continue;
    }
    entries.set(rel, changedSince(now, writtenAt - RACY_MS) ? { stat: now, digest: again.hash } : { stat: now });
  }
  // spec files were hashed (checking the graph cache) like any file; their folders were listed
  // by the spec loader, which keeps no stats: one changed since just before the build must
  // still hold exactly the spec files the build loaded
  let specFilesNow: string[] | undefined;
  for (const rel of specFolders(f.root, f.project)) {
    const now = stat(rel);
    if (now === undefined || !changedSince(now, stableBefore)) {
      const marked = now === undefined ? undefined : markedListing(path.join(f.root, rel));
      entries.set(rel, marked === undefined ? { stat: now } : { stat: now, listing: listingDigest(marked, sha256) });
      continue;
    }
    specFilesNow ??= await listSpecFiles(f.root, f.project.spec.config);
    if (specFilesNow.join('\n') !== f.project.spec.specFiles.join('\n')) return `spec files were added or removed during the build`;
    const listed = listFolder(path.join(f.root, rel));
    if (listed === undefined) return `spec folder ${rel} vanished`;
    const entry = recentFolder(rel, now, listed.names, listed.marked);
    if (typeof entry === 'string') return entry;
    entries.set(rel, entry);
  }
  // folders whose stat changed since the last proof and whose names did not: nothing this build
  // decided listed them, yet they must be signed with their stat now, and the names they had
  for (const rel of base?.relisted ?? []) {
    if (entries.has(rel) || base === undefined) continue;
    const listing = base.signed.listings.get(indexOfPath(base.signed, rel));
    const now = stat(rel);
    const listed = listFolder(path.join(f.root, rel));
    if (listing === undefined || now === undefined || listed === undefined || listingDigest(listed.marked, sha256) !== listing) {
      // changed again since the check: the next check finds it changed and compares its names
      entries.set(rel, { stat: now, stale: true, ...(listing !== undefined ? { listing } : {}) });
      continue;
    }
    // racy: its names' digest too, which every check compares
    entries.set(rel, changedSince(now, writtenAt - RACY_MS) ? { stat: now, digest: listingDigest(listed.names, sha256), listing } : { stat: now, listing });
  }
  return entries;
}

/**
 * The folders whose listings decide which spec files exist: each phases/templates glob's
 * static base (and every folder below it when the glob reaches deeper), and each phase's
 * workstream folder, existing or not.
 */
function specFolders(root: string, project: CompiledProject): string[] {
  const config = project.spec.config;
  const out: string[] = [];
  for (const glob of [...config.phases, ...config.templates]) {
    const { dir, depth } = globFolder(glob);
    out.push(dir);
    if (depth > 0) out.push(...subfolders(root, dir));
  }
  for (const p of project.spec.phases) out.push(p.file.replace(/\.ya?ml$/, ''));
  return out;
}


function listQuiet(abs: string): string[] | undefined {
  try {
    return fs.readdirSync(abs);
  } catch {
    return undefined;
  }
}

function subfolders(root: string, base: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || IGNORED_DIR_NAMES.has(e.name)) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      out.push(child);
      walk(child);
    }
  };
  walk(base);
  return out;
}

/** The variables whose values feed the keys of the plan's tasks and gates. */
function keyEnvNames(project: CompiledProject, plan: ReadonlySet<string>): Set<string> {
  const names = new Set<string>(project.spec.config.env.hash);
  for (const key of plan) {
    const attrs = project.graph.getNodeAttributes(key);
    if (attrs.kind === 'task') for (const n of attrs.task.env.hash) names.add(n);
  }
  return names;
}
