/**
 * Cross-references, once every phase is built: depends_on entries to ResolvedRefs, gate
 * needs to member task ids, duplicate phase ids. Unknown names get a did-you-mean.
 */
import picomatch from 'picomatch';
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import { errorAt } from './diagnostic.js';
import type { ResolvedRef } from './model.js';
import type { GateB, PendingRef, PhaseB, TaskB, WsB } from './normalise.js';
import { byteCompare } from '../util/byte-compare.js';
import { suggest } from './suggest.js';

interface Out {
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
}

const fmt = (l: SourceLoc): string => `${l.file}:${l.line}:${l.col}`;

/** Drop phases whose id is taken (reporting both places); returns the index by id. */
export function indexPhases(phases: readonly PhaseB[], out: Out): Map<string, PhaseB> {
  const byId = new Map<string, PhaseB>();
  for (const p of phases) {
    const prev = byId.get(p.spec.id);
    if (prev) {
      out.errors.push(
        errorAt(
          'E_DUPLICATE_ID',
          `phase id '${p.spec.id}' is used by two phase files: ${prev.spec.file} (at ${fmt(prev.idLoc)}) and ${p.spec.file}`,
          p.idLoc,
          'each phase file holds one phase with its own id: rename one (a phase id defaults to its file name)',
        ),
      );
      continue;
    }
    byId.set(p.spec.id, p);
  }
  return byId;
}

export function resolveAll(phases: ReadonlyMap<string, PhaseB>, out: Out): void {
  const r = new Resolver(phases, out);
  for (const p of phases.values()) {
    for (const d of p.deps) {
      const target = phases.get(d.raw);
      if (d.raw === p.spec.id) {
        out.errors.push(errorAt('E_CYCLE', `phase '${p.spec.id}' depends on itself`, d.loc, 'remove it from its own depends_on'));
      } else if (!target) {
        out.errors.push(
          errorAt(
            'E_UNKNOWN_PHASE',
            `phase '${p.spec.id}' depends on '${d.raw}', which is no phase${dym(d.raw, phases.keys())}`,
            d.loc,
            `a phase's depends_on lists phase ids; phases: ${listSome([...phases.keys()].sort(byteCompare))}`,
          ),
        );
      } else p.resolved.push({ raw: d.raw, loc: d.loc, resolved: { kind: 'phase', id: d.raw } });
    }
    for (const ws of p.workstreams) {
      for (const d of ws.deps) r.wsDep(p, ws, d);
      for (const t of ws.tasks) for (const d of t.deps) r.taskDep(p, ws, t, d);
    }
    for (const g of p.gates) {
      for (const d of g.deps) r.gateDep(p, g, d);
      r.gateNeeds(p, g);
    }
    if (!p.workstreams.some((w) => w.tasks.length > 0)) {
      out.warnings.push({
        severity: 'warning',
        code: 'W_EMPTY_PHASE',
        message: `phase '${p.spec.id}' has no tasks`,
        loc: p.spec.loc,
        hint: `add workstreams with tasks (inline, or files under ${p.spec.file.replace(/\.ya?ml$/, '')}/)`,
      });
    }
  }
}

function dym(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean '${s}'?)`;
}

function listSome(xs: readonly string[], max = 12): string {
  if (xs.length === 0) return '(none)';
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')}, ... (${xs.length} in all)`;
}

class Resolver {
  constructor(
    private readonly phases: ReadonlyMap<string, PhaseB>,
    private readonly out: Out,
  ) {}

  private task(p: string, w: string, t: string): ResolvedRef | undefined {
    return this.phases.get(p)?.wsById.get(w)?.taskById.has(t) ? { kind: 'task', id: `${p}/${w}/${t}` } : undefined;
  }
  private ws(p: string, w: string): ResolvedRef | undefined {
    return this.phases.get(p)?.wsById.has(w) ? { kind: 'ws', id: `${p}/${w}` } : undefined;
  }
  private gate(p: string, g: string): ResolvedRef | undefined {
    return this.phases.get(p)?.gateById.has(g) ? { kind: 'gate', id: `${p}/${g}` } : undefined;
  }
  private phase(p: string): ResolvedRef | undefined {
    return this.phases.has(p) ? { kind: 'phase', id: p } : undefined;
  }

  /** what a user might have meant, for did-you-mean, by the shape of what they wrote */
  private candidates(raw: string, p: PhaseB, ws: WsB | undefined): string[] {
    const parts = raw.split('/').length;
    const c: string[] = [];
    if (parts === 1) {
      if (ws) c.push(...ws.taskById.keys());
      c.push(...p.gateById.keys(), ...p.wsById.keys(), ...this.phases.keys());
    } else if (parts === 2) {
      for (const w of p.workstreams) for (const t of w.taskById.keys()) c.push(`${w.spec.id}/${t}`);
      for (const q of this.phases.values()) {
        for (const w of q.wsById.keys()) c.push(`${q.spec.id}/${w}`);
        for (const g of q.gateById.keys()) c.push(`${q.spec.id}/${g}`);
      }
    } else {
      for (const q of this.phases.values()) for (const w of q.workstreams) for (const t of w.tasks) c.push(t.spec.fullId);
    }
    return c;
  }

  private unknown(what: string, d: PendingRef, p: PhaseB, ws: WsB | undefined, hint: string): void {
    this.out.errors.push(errorAt('E_UNKNOWN_DEP', `${what} depends on '${d.raw}'${dym(d.raw, this.candidates(d.raw, p, ws))}`, d.loc, hint));
  }

  private cycle(what: string, d: PendingRef, why: string): void {
    this.out.errors.push(errorAt('E_CYCLE', `${what} depends on '${d.raw}', ${why}`, d.loc, `remove '${d.raw}' from its depends_on`));
  }

  taskDep(p: PhaseB, ws: WsB, t: TaskB, d: PendingRef): void {
    const P = p.spec.id;
    const W = ws.spec.id;
    const what = `task '${W}/${t.spec.id}'`;
    const s = d.raw.split('/');
    let r: ResolvedRef | undefined;
    if (s.length === 1) r = this.task(P, W, s[0]!) ?? this.gate(P, s[0]!) ?? this.ws(P, s[0]!) ?? this.phase(s[0]!);
    else if (s.length === 2) r = this.task(P, s[0]!, s[1]!) ?? this.ws(s[0]!, s[1]!) ?? this.gate(s[0]!, s[1]!);
    else if (s.length === 3) r = this.task(s[0]!, s[1]!, s[2]!);
    if (!r) {
      return this.unknown(
        what,
        d,
        p,
        ws,
        "a task's depends_on names a task of its workstream, a gate or workstream of its phase, ws/task, phase/ws, phase/GATE or phase/ws/task",
      );
    }
    if (r.kind === 'task' && r.id === t.spec.fullId) return this.cycle(what, d, 'which is itself');
    if (r.kind === 'ws' && r.id === ws.spec.fullId) return this.cycle(what, d, 'its own workstream (every task of it, itself included)');
    if (r.kind === 'phase' && r.id === P) return this.cycle(what, d, 'its own phase (every task of it, itself included)');
    t.resolved.push({ raw: d.raw, loc: d.loc, resolved: r });
  }

  /** workstream and gate depends_on: ws, gate, phase/ws, phase/GATE, phase; also w/t, p/w/t */
  private wsOrGateRef(P: string, raw: string): ResolvedRef | undefined {
    const s = raw.split('/');
    if (s.length === 1) return this.ws(P, s[0]!) ?? this.gate(P, s[0]!) ?? this.phase(s[0]!);
    if (s.length === 2) return this.ws(s[0]!, s[1]!) ?? this.gate(s[0]!, s[1]!) ?? this.task(P, s[0]!, s[1]!);
    if (s.length === 3) return this.task(s[0]!, s[1]!, s[2]!);
    return undefined;
  }

  wsDep(p: PhaseB, ws: WsB, d: PendingRef): void {
    const what = `workstream '${ws.spec.id}'`;
    const r = this.wsOrGateRef(p.spec.id, d.raw);
    if (!r) {
      return this.unknown(what, d, p, undefined, "a workstream's depends_on names a workstream or gate of its phase, phase/ws, phase/GATE or a phase id");
    }
    if (r.kind === 'ws' && r.id === ws.spec.fullId) return this.cycle(what, d, 'which is itself');
    if (r.kind === 'phase' && r.id === p.spec.id) return this.cycle(what, d, 'its own phase (which includes it)');
    if (r.kind === 'task' && r.id.startsWith(`${ws.spec.fullId}/`)) return this.cycle(what, d, 'one of its own tasks');
    ws.resolved.push({ raw: d.raw, loc: d.loc, resolved: r });
  }

  gateDep(p: PhaseB, g: GateB, d: PendingRef): void {
    const what = `gate '${g.spec.id}'`;
    const r = this.wsOrGateRef(p.spec.id, d.raw);
    if (!r) return this.unknown(what, d, p, undefined, "a gate's depends_on names a workstream or gate of its phase, phase/ws, phase/GATE or a phase id");
    if (r.kind === 'gate' && r.id === g.spec.fullId) return this.cycle(what, d, 'which is itself');
    if (r.kind === 'phase' && r.id === p.spec.id) return this.cycle(what, d, 'its own phase (which includes it)');
    g.resolved.push({ raw: d.raw, loc: d.loc, resolved: r });
  }

  gateNeeds(p: PhaseB, g: GateB): void {
    const needs = g.needs;
    if (needs === undefined) return;
    const members = new Set<string>();
    if (!Array.isArray(needs)) {
      const { kind, loc } = needs as { kind: string; loc: SourceLoc };
      for (const w of p.workstreams) for (const t of w.tasks) if (t.spec.kind === kind) members.add(t.spec.fullId);
      if (members.size === 0) {
        this.out.warnings.push({
          severity: 'warning',
          code: 'W_UNUSED_GATE',
          message: `gate '${g.spec.id}' needs every ${kind} task of phase '${p.spec.id}', and it has none`,
          loc,
          hint: `give some task of the phase kind: ${kind}, or change the gate's needs`,
        });
      }
    } else {
      const local: Array<{ wt: string; full: string }> = [];
      for (const w of p.workstreams) for (const t of w.tasks) local.push({ wt: `${w.spec.id}/${t.spec.id}`, full: t.spec.fullId });
      for (const d of needs as PendingRef[]) {
        const found = this.needsEntry(p, d.raw, local);
        if (found.length === 0) {
          this.out.errors.push(
            errorAt(
              'E_GATE_NEEDS',
              `gate '${g.spec.id}' needs '${d.raw}', which matches no task${dym(d.raw, local.map((x) => x.wt))}`,
              d.loc,
              "needs lists ws/task, phase/ws/task, a workstream id (all its tasks) or globs over ws/task of the phase (e.g. '*/test'); or write { kind: static }",
            ),
          );
        }
        for (const f of found) members.add(f);
      }
    }
    g.members.push(...[...members].sort(byteCompare));
  }

  private needsEntry(p: PhaseB, raw: string, local: ReadonlyArray<{ wt: string; full: string }>): string[] {
    if (picomatch.scan(raw).isGlob) {
      const m = picomatch(raw);
      return local.filter((x) => m(x.wt) || m(x.full)).map((x) => x.full);
    }
    const s = raw.split('/');
    if (s.length === 1) {
      const w = p.wsById.get(s[0]!);
      return w ? w.tasks.map((t) => t.spec.fullId) : [];
    }
    const r = s.length === 2 ? this.task(p.spec.id, s[0]!, s[1]!) : s.length === 3 ? this.task(s[0]!, s[1]!, s[2]!) : undefined;
    return r ? [r.id] : [];
  }
}
