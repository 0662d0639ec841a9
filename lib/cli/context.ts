/**
 * Opening a project, shared by every command: find the root, open the stat index, load
 * the compiled graph (from its cache when the spec files are unchanged), print problems.
 */
import fs from 'node:fs';
import path from 'node:path';
import { acquireProjectLock } from '../events/lock.js';
import type { LoadedGraph } from '../graph/graph-cache.js';
import { resolveTargets } from '../graph/targets.js';
import { loadCompiledProject } from '../graph/graph-cache.js';
import { createFileHasher } from '../hash/file-hasher.js';
import type { FileHasher } from '../hash/types.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { errorAt, formatDiagnostic } from '../spec/diagnostic.js';
import { CONFIG_FILE, findProjectRoot } from '../spec/project-root.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { ResidentProject } from './resident.js';
import type { ProofHint } from '../build/noop-proof.js';
import { specVouchedBy } from './proof-hint.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_SPEC = 2;
export const EXIT_INTERRUPTED = 130;

export interface Io {
  readonly stdout: { write(text: string): void; readonly isTTY: boolean };
  readonly stderr: { write(text: string): void };
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface OpenProject {
  readonly root: string;
  readonly uetDir: string;
  readonly hasher: FileHasher;
  readonly loaded: LoadedGraph;
}

export function locateRoot(io: Io, dir: string | undefined): Result<string, Diagnostic[]> {
  const start = path.resolve(io.cwd, dir ?? '.');
  const root = findProjectRoot(start);
  if (!root) {
    return err([errorAt('E_CONFIG_NOT_FOUND', `no ${CONFIG_FILE} in ${start} or any folder above it`, undefined, `create one with 'version: 1', or run uet from inside a uet project (-C DIR)`)]);
  }
  return ok(root);
}

export interface OpenOptions {
  readonly useGraphCache?: boolean;
  /** keep the workstreams as expanded from the YAML (`uet validate --expand`) */
  readonly keepExpanded?: boolean;
  /** wraps the hasher before anything uses it (the build observes what it hashed, spec files included) */
  readonly wrapHasher?: (hasher: FileHasher) => FileHasher;
  /** see LoadOptions.onGarbage (lib/graph/graph-cache.ts) */
  readonly onLoadGarbage?: () => void;
  /** the stat index and the loaded project of the resident process running this command (`uet serve`) */
  readonly resident?: ResidentProject;
  /** the no-op proof's hint this build follows, which may vouch for the cached graph's spec files */
  readonly hint?: ProofHint;
}

/** the same folder, whichever symlinks lead to it */
function sameFolder(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

export async function openProject(io: Io, dir: string | undefined, opts: OpenOptions = {}): Promise<Result<OpenProject, Diagnostic[]>> {
  const root = locateRoot(io, dir);
  if (!root.ok) return root;
  const resident = opts.resident;
  if (resident && !sameFolder(resident.root, root.value)) {
    return err([errorAt('E_USAGE', `this uet serve (pid ${process.pid}) serves ${resident.root}, not ${root.value}`, undefined, 'run the build without the server, or in the project it serves')]);
  }
  const uetDir = path.join(root.value, '.uet');
  fs.mkdirSync(uetDir, { recursive: true });
  const indexed = resident?.hasher ?? (await createFileHasher(root.value, path.join(uetDir, 'stat-index')));
  const hasher = opts.wrapHasher ? opts.wrapHasher(indexed) : indexed;
  const hint = opts.hint;
  const loadOptions = {
    useCache: opts.useGraphCache !== false,
    keepExpanded: opts.keepExpanded === true,
    ...(opts.onLoadGarbage !== undefined ? { onGarbage: opts.onLoadGarbage } : {}),
    // a hinted build narrows after a spec edit too, to the nodes it redefined (proof-hint.ts)
    ...(hint !== undefined ? { specVouched: (files: ReadonlyArray<readonly [string, string]>) => specVouchedBy(hint, root.value, files), compareWithLast: true } : {}),
  };
  const loaded = resident ? await resident.load(hasher, loadOptions) : await loadCompiledProject(root.value, uetDir, hasher, loadOptions);
  if (!loaded.ok) {
    await hasher.flush();
    return err(loaded.error);
  }
  return ok({ root: root.value, uetDir, hasher, loaded: loaded.value });
}

/** openProject for a command taking targets: the targets resolved too, or the exit code (the errors printed). */
export async function openTargets(io: Io, dir: string | undefined, targets: readonly string[], json: boolean, opts: OpenOptions = {}): Promise<Result<OpenProject & { targetKeys: string[] }, number>> {
  const opened = await openProject(io, dir, opts);
  if (!opened.ok) return err(specFailed(io, opened.error));
  if (!json) printDiagnostics(io, opened.value.loaded.warnings);
  const targetKeys = resolveTargets(opened.value.loaded.project, targets);
  if (!targetKeys.ok) return err(specFailed(io, targetKeys.error));
  return ok({ ...opened.value, targetKeys: targetKeys.value });
}

/** Takes the project lock, saying so while it waits; undefined (and an error printed) if it cannot. */
export async function lockProject(io: Io, uetDir: string): Promise<{ release(): void } | undefined> {
  const acquired = await acquireProjectLock(uetDir, {
    onWait: (h) => {
      io.stderr.write(`waiting for the project lock: held by pid ${h.pid} (${h.command}) since ${new Date(h.startedAt).toISOString()}\n`);
      // a watch holds it until it stops; `uet serve` is the resident process that takes builds
      if (/(^|\s)watch(\s|$)/.test(h.command)) io.stderr.write(`hint: uet watch keeps the lock until it stops (q or Ctrl-C there); to run builds from other shells while a process stays loaded, use uet serve instead\n`);
    },
  });
  if (acquired.ok) return acquired.value;
  io.stderr.write(`error: could not lock the project: ${acquired.error}\n`);
  return undefined;
}

export function printDiagnostics(io: Io, diagnostics: readonly Diagnostic[]): void {
  for (const line of diagnosticLines(diagnostics)) io.stderr.write(`${line}\n`);
}

export function diagnosticLines(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map((d) => `${d.severity === 'warning' ? 'warning: ' : ''}${formatDiagnostic(d)}`);
}

export function specFailed(io: Io, diagnostics: readonly Diagnostic[]): number {
  printDiagnostics(io, diagnostics);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  io.stderr.write(`${errors} error${errors === 1 ? '' : 's'}; nothing was built\n`);
  return EXIT_SPEC;
}
