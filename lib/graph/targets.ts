/**
 * Command-line targets → the set of graph nodes a build must reach. Pure.
 *
 * A target is `phase`, `phase/ws`, `phase/ws/task`, `phase/GATE_X`, or a glob of those.
 * The plan is the targets plus everything they transitively need.
 */
import picomatch from 'picomatch';
import type { Diagnostic } from '../spec/diagnostic.js';
import { errorAt } from '../spec/diagnostic.js';
import { suggest } from '../spec/suggest.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { CompiledProject } from './project.js';
import { countTasks, gateKey, phaseKey, taskKey } from './project.js';
import { TaskGraph } from './task-graph.js';

const GLOB_CHARS = /[*?[\]{}!]/;

/** Every name a user can write as a target, mapped to the node keys it stands for. */
export function targetNames(project: CompiledProject): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const phase of project.spec.phases) {
    names.set(phase.id, [phaseKey(phase.id)]);
    for (const ws of phase.workstreams) {
      names.set(ws.fullId, ws.tasks.map((t) => taskKey(t.fullId)));
      for (const t of ws.tasks) names.set(t.fullId, [taskKey(t.fullId)]);
    }
    for (const g of phase.gates) names.set(g.fullId, [gateKey(g.fullId)]);
  }
  return names;
}

export function resolveTargets(project: CompiledProject, targets: readonly string[]): Result<string[], Diagnostic[]> {
  const wanted = targets.length > 0 ? targets : project.spec.config.default;
  if (wanted.length === 0) return ok(project.spec.phases.map((p) => phaseKey(p.id)));
  const named = namedExactly(project, wanted);
  if (named) return ok([...named].sort());
  const names = targetNames(project);

  const keys = new Set<string>();
  const problems: Diagnostic[] = [];
  for (const raw of wanted) {
    const target = raw.replace(/\/+$/, '');
    const exact = names.get(target);
    if (exact) {
      for (const k of exact) keys.add(k);
      continue;
    }
    if (GLOB_CHARS.test(target)) {
      const isMatch = picomatch(target, { dot: true });
      let matched = 0;
      for (const [name, nodeKeys] of names) {
        if (!isMatch(name)) continue;
        matched++;
        for (const k of nodeKeys) keys.add(k);
      }
      if (matched > 0) continue;
    }
    const guess = suggest(target, names.keys());
    problems.push(
      errorAt(
        'E_UNKNOWN_TARGET',
        `no phase, workstream, task or gate is called '${target}'${guess ? ` (did you mean '${guess}'?)` : ''}`,
        undefined,
        'targets are phase, phase/ws, phase/ws/task, phase/GATE_X, or a glob of these; `uet graph --format json` lists them',
      ),
    );
  }
  if (problems.length > 0) return err(problems);
  return ok([...keys].sort());
}

/**
 * The node keys of targets that each name a phase, a workstream, a gate or a task exactly, as
 * targetNames would give them, or undefined when one does not (a glob, a typo). Asked first
 * because targetNames reads every task, and a build restored from the compiled-graph cache reads
 * a workstream's tasks only when it needs them: `uet build phase-3` after a touch reads a few.
 */
function namedExactly(project: CompiledProject, wanted: readonly string[]): Set<string> | undefined {
  const phases = new Set(project.spec.phases.map((p) => p.id));
  const keys = new Set<string>();
  for (const raw of wanted) {
    const target = raw.replace(/\/+$/, '');
    // in targetNames' order of precedence: a gate's name wins over a workstream's
    if (phases.has(target)) keys.add(phaseKey(target));
    else if (project.graph.hasNode(gateKey(target))) keys.add(gateKey(target));
    else if (project.workstreams.has(target)) {
      const prefix = taskKey(`${target}/`);
      // task ids hold no '/': every key below the workstream's is one of its tasks
      for (const k of project.order) if (k.startsWith(prefix)) keys.add(k);
    } else if (project.graph.hasNode(taskKey(target))) keys.add(taskKey(target));
    else return undefined;
  }
  return keys;
}

/** The targets and everything they need, as a set of node keys. */
export function planClosure(project: CompiledProject, targetKeys: readonly string[]): Set<string> {
  return project.graph.dependencyClosure(targetKeys);
}

/**
 * Is planClosure of these targets every node of the graph? Every task and gate of a phase is a
 * member of its barrier (compile.ts), so targets naming every phase (a build without targets)
 * reach them all.
 */
export function reachesEveryNode(project: CompiledProject, targetKeys: readonly string[]): boolean {
  const keys = new Set(targetKeys);
  return project.spec.phases.every((p) => keys.has(phaseKey(p.id)));
}

/** How many tasks the plan holds; for every node of the graph, without walking them. */
export function planTaskCount(project: CompiledProject, plan: ReadonlySet<string>): number {
  if (!TaskGraph.isEveryNode(plan)) return countTasks(plan);
  // all but each phase's barrier and its gates
  return plan.size - project.spec.phases.reduce((n, p) => n + 1 + p.gates.length, 0);
}
