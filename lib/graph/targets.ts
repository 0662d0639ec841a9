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
import { gateKey, phaseKey, taskKey } from './project.js';

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

/** The targets and everything they need, as a set of node keys. */
export function planClosure(project: CompiledProject, targetKeys: readonly string[]): Set<string> {
  return project.graph.dependencyClosure(targetKeys);
}
