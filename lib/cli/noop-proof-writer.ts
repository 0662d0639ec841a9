/**
 * Writing the no-op proof (lib/build/noop-proof.ts) at the end of a build that found every
 * task fresh, and saying which builds can have one at all.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildOutcome } from '../build/runner.js';
import type { NoopProof, StatLike } from '../build/noop-proof.js';
import { envDigest, formatProof, proofFileName, signature, signPaths, statUnder, uetBuildId } from '../build/noop-proof.js';
import type { CompiledProject } from '../graph/compile.js';
import type { FileHasher, Globber } from '../hash/types.js';
import { writeFileAtomic } from '../util/atomic-write.js';

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

/** Records the paths a build's hasher was asked about, for the proof. */
export function observingHasher(inner: FileHasher, seen: Set<string>): FileHasher {
  return {
    hashFile: (p) => {
      seen.add(p);
      return inner.hashFile(p);
    },
    hashFiles: (ps) => {
      for (const p of ps) seen.add(p);
      return inner.hashFiles(ps);
    },
    forget: (p) => inner.forget(p),
    flush: () => inner.flush(),
  };
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
  /** did anything start (a task, a gate's command)? */
  readonly startedAny: boolean;
  readonly hashed: ReadonlySet<string>;
  readonly globber: Globber;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly warnings: readonly string[];
  readonly startedAt: number;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export const statForProof = (abs: string): StatLike | undefined => fs.statSync(abs, { throwIfNoEntry: false });

/**
 * Writes the proof when this build was a no-op that stats can vouch for; otherwise removes any
 * older proof for these targets. Returns why none was written (for tests), or undefined.
 */
export async function writeNoopProof(f: ProofFacts): Promise<string | undefined> {
  const file = path.join(f.uetDir, 'noop', proofFileName(f.targets));
  const why = whyNoProof(f);
  if (why !== undefined) {
    fs.rmSync(file, { force: true });
    return why;
  }
  const signed = signPaths(consultedPaths(f), statUnder(f.root, process.cwd(), statForProof), f.startedAt);
  if (!signed.ok) {
    fs.rmSync(file, { force: true });
    return `${signed.racy} changed too recently`;
  }
  const envNames = [...keyEnvNames(f.project, f.plan)].sort();
  const proof: NoopProof = {
    uet: uetBuildId(),
    root: f.root,
    targets: f.targets,
    envNames,
    envDigest: envDigest(envNames, f.env, sha256),
    state: signature(statForProof(path.join(f.uetDir, 'fresh.log'))),
    label: f.label,
    tasks: f.taskCount,
    counts: f.outcome.counts,
    warnings: f.warnings,
    signed: signed.signed,
  };
  const text = formatProof(proof);
  if (text === undefined) return 'a path holds a newline';
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, text);
  } catch {
    // only a shortcut: the next build decides task by task
    return 'could not write it';
  }
  return undefined;
}

function whyNoProof(f: ProofFacts): string | undefined {
  const o = f.outcome;
  if (o.failed || o.interrupted || o.nonBlockingGateFailures.length > 0) return 'the build did not succeed';
  if (f.startedAny || o.counts.fresh !== f.taskCount) return 'something ran';
  return unprovable(f.project, f.plan);
}

function consultedPaths(f: ProofFacts): string[] {
  const { dirs, probed } = f.globber.consulted();
  return [...f.hashed, ...dirs, ...probed, ...f.project.spec.specFiles, ...specFolders(f.root, f.project)];
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
    const parts = glob.split('/');
    let n = 0;
    while (n < parts.length - 1 && !/[*?[\]{}()!+@]/.test(parts[n]!)) n++;
    const base = parts.slice(0, n).join('/');
    out.push(base);
    if (parts.length - n > 1 || glob.includes('**')) out.push(...subfolders(root, base));
  }
  for (const p of project.spec.phases) out.push(p.file.replace(/\.ya?ml$/, ''));
  return out;
}

const SKIP = new Set(['.git', 'node_modules', '.uet']);

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
      if (!e.isDirectory() || SKIP.has(e.name)) continue;
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
