/** `uet graph`: the compiled graph as dot, mermaid or json. */
import type { CompiledProject } from '../graph/project.js';
import { nodeId } from '../graph/project.js';
import { planClosure, resolveTargets } from '../graph/targets.js';
import { assertNever } from '../util/result.js';
import type { Io } from './context.js';
import { EXIT_OK, EXIT_SPEC, openProject, specFailed } from './context.js';

export type GraphFormat = 'dot' | 'mermaid' | 'json';

export async function graphCommand(io: Io, targets: readonly string[], opts: { dir?: string; format: string }): Promise<number> {
  const format = opts.format as GraphFormat;
  if (!['dot', 'mermaid', 'json'].includes(format)) {
    io.stderr.write(`E_USAGE unknown graph format '${opts.format}'\n  hint: use --format dot, mermaid or json\n`);
    return EXIT_SPEC;
  }
  const opened = await openProject(io, opts.dir);
  if (!opened.ok) return specFailed(io, opened.error);
  await opened.value.hasher.flush();
  const project = opened.value.loaded.project;
  const keys = resolveTargets(project, targets);
  if (!keys.ok) return specFailed(io, keys.error);
  const nodes = targets.length > 0 ? planClosure(project, keys.value) : new Set(project.order);
  io.stdout.write(renderGraph(project, nodes, format));
  return EXIT_OK;
}

export function renderGraph(project: CompiledProject, nodes: ReadonlySet<string>, format: GraphFormat): string {
  const g = project.graph;
  const order = project.order.filter((k) => nodes.has(k));
  const edges: Array<[string, string, string]> = [];
  for (const k of order) for (const [dep, why] of g.inEdges(k)) if (nodes.has(dep)) edges.push([dep, k, why]);
  switch (format) {
    case 'json':
      return `${JSON.stringify(
        {
          nodes: order.map((k) => {
            const a = g.getNodeAttributes(k);
            switch (a.kind) {
              case 'task':
                return { id: a.id, kind: 'task', taskKind: a.task.kind, phase: a.task.phase, workstream: a.task.workstream, run: a.task.run ?? null, inputs: a.task.inputs ?? null, outputs: a.task.outputs ?? null };
              case 'gate':
                return { id: a.id, kind: 'gate', type: a.gate.type, blocking: a.gate.blocking, members: a.gate.members, run: a.gate.run ?? null };
              case 'phase':
                return { id: a.id, kind: 'phase' };
              default:
                return assertNever(a, 'node');
            }
          }),
          edges: edges.map(([from, to, why]) => ({ from: nodeId(from), to: nodeId(to), why })),
        },
        null,
        2,
      )}\n`;
    case 'dot': {
      const lines = ['digraph uet {', '  rankdir=LR;', '  node [fontname="Helvetica"];'];
      for (const k of order) {
        const a = g.getNodeAttributes(k);
        const shape = a.kind === 'task' ? 'box' : a.kind === 'gate' ? 'diamond' : 'doubleoctagon';
        lines.push(`  ${JSON.stringify(nodeId(k))} [shape=${shape}${a.kind === 'task' ? `, tooltip=${JSON.stringify(a.task.kind)}` : ''}];`);
      }
      for (const [from, to, why] of edges) lines.push(`  ${JSON.stringify(nodeId(from))} -> ${JSON.stringify(nodeId(to))}${why === 'depends_on' ? '' : ` [style=${why === 'barrier' ? 'dotted' : 'dashed'}]`};`);
      lines.push('}');
      return `${lines.join('\n')}\n`;
    }
    case 'mermaid': {
      const ids = new Map(order.map((k, i) => [k, `n${i}`]));
      const lines = ['flowchart LR'];
      for (const k of order) {
        const a = g.getNodeAttributes(k);
        const label = JSON.stringify(nodeId(k));
        lines.push(`  ${ids.get(k)}${a.kind === 'task' ? `[${label}]` : a.kind === 'gate' ? `{${label}}` : `[[${label}]]`}`);
      }
      for (const [from, to, why] of edges) lines.push(`  ${ids.get(from)} ${why === 'depends_on' ? '-->' : '-.->'} ${ids.get(to)}`);
      return `${lines.join('\n')}\n`;
    }
    default:
      return assertNever(format, 'format');
  }
}
