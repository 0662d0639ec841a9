/**
 * The compiled-graph cache: the checked spec and the layout of its compiled graph, stored as
 * JSON in .uet/graph.json with the content hashes of the spec files they came from. While those
 * files (found through the stat index, so usually without reading them) are unchanged, a build
 * parses no YAML, runs no schema check and does not compile.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { FileHasher } from '../hash/types.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { listSpecFiles, loadProject } from '../spec/load.js';
import type { ExpandedWorkstream } from '../spec/load.js';
import type { ProjectSpec } from '../spec/model.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { UET_VERSION } from '../version.js';
import type { CompiledProject } from './project.js';
import { restoreCompiled } from './project.js';
import type { GraphLayout } from './task-graph.js';

interface GraphCacheFile {
  readonly uetVersion: string;
  readonly files: ReadonlyArray<readonly [string, string]>;
  readonly warnings: readonly Diagnostic[];
  readonly spec: ProjectSpec;
  readonly layout: GraphLayout;
}

export interface LoadedGraph {
  readonly project: CompiledProject;
  readonly warnings: readonly Diagnostic[];
  readonly fromCache: boolean;
  /**
   * the workstreams after template expansion, when asked for and loaded from the YAML (not
   * from the cache). Only when asked: they hold the parsed YAML and its positions, which a
   * build holding its LoadedGraph would keep alive (at 10,000 tasks: 40 → 33 MB live after
   * the first collection, 172 → 165 MB peak RSS of a cold build).
   */
  readonly expanded?: readonly ExpandedWorkstream[];
}

export async function loadCompiledProject(root: string, uetDir: string, hasher: FileHasher, opts: { useCache?: boolean; keepExpanded?: boolean } = {}): Promise<Result<LoadedGraph, Diagnostic[]>> {
  const cachePath = path.join(uetDir, 'graph.json');
  if (opts.useCache !== false) {
    const cached = await readCache(cachePath);
    if (cached && (await stillValid(root, cached, hasher))) {
      const project = restoreCompiled({ ...cached.spec, root }, cached.layout);
      if (project) return ok({ project, warnings: cached.warnings, fromCache: true });
    }
  }
  const loaded = await loadProject(root);
  if (!loaded.ok) return err(loaded.error);
  // the compiler and graphology load only when the spec changed
  const { compileProject } = await import('./compile.js');
  const compiled = compileProject(loaded.value.spec);
  if (!compiled.ok) return err(compiled.error);
  const digests = await hasher.hashFiles(loaded.value.spec.specFiles);
  const files = loaded.value.spec.specFiles.map((f) => [f, digests.get(f)?.hash ?? ''] as const);
  const file: GraphCacheFile = { uetVersion: UET_VERSION, files, warnings: loaded.value.warnings, spec: specToCache(loaded.value.spec), layout: compiled.value.graph.toLayout() };
  try {
    await fs.mkdir(uetDir, { recursive: true });
    await writeFileAtomic(cachePath, JSON.stringify(file));
  } catch {
    // Only a speed-up: a build goes on without it.
  }
  return ok({ project: compiled.value, warnings: loaded.value.warnings, fromCache: false, ...(opts.keepExpanded ? { expanded: loaded.value.expanded } : {}) });
}

/**
 * The spec as the cache keeps it. A task's dependsOn (each reference with its source location
 * and what it resolved to) feeds only the compiler, and the cached layout holds the edges it
 * made; without them the file of a 10,000-task project is 4.7 MB instead of 7.4, and parses in
 * 24 ms instead of 35. Gates keep theirs: a gate's run reads them.
 */
function specToCache(spec: ProjectSpec): ProjectSpec {
  return {
    ...spec,
    phases: spec.phases.map((phase) => ({
      ...phase,
      workstreams: phase.workstreams.map((ws) => ({ ...ws, tasks: ws.tasks.map((task) => ({ ...task, dependsOn: [] })) })),
    })),
  };
}

async function readCache(cachePath: string): Promise<GraphCacheFile | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(cachePath, 'utf8')) as GraphCacheFile;
    // a file from another version, or from before the layout was cached, is rebuilt
    return parsed.uetVersion === UET_VERSION && Array.isArray(parsed.layout?.keys) && Array.isArray(parsed.layout.edges) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

async function stillValid(root: string, cached: GraphCacheFile, hasher: FileHasher): Promise<boolean> {
  const now = await listSpecFiles(root, cached.spec.config);
  if (now.length !== cached.files.length || now.some((f, i) => cached.files[i]![0] !== f)) return false;
  const digests = await hasher.hashFiles(now);
  return cached.files.every(([f, hash]) => digests.get(f)?.hash === hash);
}
