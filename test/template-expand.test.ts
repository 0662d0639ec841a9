/** The pure parts of template expansion: substitution, merging, locations, expandWorkstreams. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDiagnostic, formatLoc } from '../lib/spec/diagnostic.js';
import { checkUnusedTemplate, expandWorkstreams } from '../lib/spec/expand.js';
import type { LocatedWorkstream, RawWorkstream } from '../lib/spec/raw.js';
import type { Bound, Scope, SubstProblem } from '../lib/spec/substitute.js';
import { ExpandedSource, mergeOver, placeholdersUsed, substitute } from '../lib/spec/substitute.js';
import type { TemplateDef } from '../lib/spec/templates.js';
import { builtinTemplates, TemplateRegistry, templateFromFile } from '../lib/spec/templates.js';
import { readFileSync } from 'node:fs';
import type { SpecSource } from '../lib/spec/yaml-source.js';
import { parseSpecText } from '../lib/spec/yaml-source.js';

const L = (...lines: string[]): string => `${lines.join('\n')}\n`;

function source(file: string, text: string): SpecSource {
  const p = parseSpecText(file, text);
  if (!p.ok) throw new Error(p.errors.map(formatDiagnostic).join('\n'));
  return p.src;
}

function scopeOf(src: SpecSource, values: Record<string, Bound['value']>): Scope {
  return new Map(Object.entries(values).map(([k, v]) => [k, { value: v, origin: { src, path: ['with', k] } }]));
}

// ------------------------------------------------------------------------------ substitute

test('substitute: text, typed values alone, list splices, keys untouched', () => {
  const src = source('t.yaml', L('body:', '  "{{pkg}}": "x"', '  run: "make {{pkg}} -j{{n}} v={{on}}"', '  retries: "{{n}}"', '  inputs: ["a", "{{more}}", "b"]', '  all: "{{more}}"'));
  const values = source('w.yaml', L('with:', '  pkg: core', '  n: 4', '  on: true', '  more: [m1, m2]'));
  const problems: SubstProblem[] = [];
  const r = substitute({ value: (src.data as { body: unknown }).body, origin: { src, path: ['body'] } }, scopeOf(values, { pkg: 'core', n: 4, on: true, more: ['m1', 'm2'] }), problems);
  assert.equal(problems, []);
  assert.equal(r.value, { '{{pkg}}': 'x', run: 'make core -j4 v=true', retries: 4, inputs: ['a', 'm1', 'm2', 'b'], all: ['m1', 'm2'] });
  // a spliced item is located at the value it came from; the items after it keep theirs
  const at = new ExpandedSource(r.value, r.origin, values, { file: 'w.yaml', line: 1, col: 1 });
  assert.is(formatLoc(at.loc(['inputs', 2])), 'w.yaml:5:14');
  assert.is(formatLoc(at.loc(['inputs', 3])), 't.yaml:5:29');
  assert.is(formatLoc(at.loc(['run'])), 't.yaml:3:8');
});

test('substitute: undefined names and lists inside strings are problems, left as written', () => {
  const src = source('t.yaml', L('a: "x {{nope}}"', 'b: "{{gone}}"', 'c: "run {{files}}"', 'd: "${{ github.sha }} {{ok}}"'));
  const problems: SubstProblem[] = [];
  const r = substitute({ value: src.data, origin: { src, path: [] } }, scopeOf(src, { files: ['a'], ok: 'y' }), problems);
  assert.equal(r.value, { a: 'x {{nope}}', b: '{{gone}}', c: 'run {{files}}', d: '${{ github.sha }} y' });
  assert.equal(
    problems.map((p) => [p.kind, p.name, p.origin.path.join('.')]),
    [
      ['undefined', 'nope', 'a'],
      ['undefined', 'gone', 'b'],
      ['list-in-string', 'files', 'c'],
    ],
  );
  assert.equal([...placeholdersUsed(src.data)].sort(), ['files', 'gone', 'nope', 'ok']);
});

// ------------------------------------------------------------------------------ mergeOver

test('mergeOver: keys replaced, tasks merged by id (fields overridden, new tasks added), each value located where written', () => {
  const tpl = source('templates/t.yaml', L('body:', '  files_scope: ["a/**"]', '  tasks:', '    - id: build', '      run: make', '      inputs: [src/**]', '    - id: test', '      run: "make test"'));
  const use = source('phases/p.yaml', L('id: w', 'files_scope: ["b/**"]', 'tasks:', '  - id: test', '    run: "make check"', '  - id: lint', '    run: lint'));
  const base = { value: (tpl.data as { body: Record<string, unknown> }).body, origin: { src: tpl, path: ['body'] } };
  const m = mergeOver(base, { value: use.data as Record<string, unknown>, origin: { src: use, path: [] } });
  assert.equal(m.value, {
    files_scope: ['b/**'],
    tasks: [
      { id: 'build', run: 'make', inputs: ['src/**'] },
      { id: 'test', run: 'make check' },
      { id: 'lint', run: 'lint' },
    ],
    id: 'w',
  });
  const via = use.loc([]);
  const at = new ExpandedSource(m.value, m.origin, use, via);
  const where = (...p: (string | number)[]): string => {
    const l = at.loc(p);
    return `${formatLoc(l)}${l.via ? ` via ${formatLoc(l.via)}` : ''}`;
  };
  assert.is(where(), 'phases/p.yaml:1:1');
  assert.is(where('files_scope', 0), 'phases/p.yaml:2:15');
  assert.is(where('tasks', 0, 'inputs', 0), 'templates/t.yaml:6:16 via phases/p.yaml:1:1');
  assert.is(where('tasks', 1, 'run'), 'phases/p.yaml:5:10');
  assert.is(where('tasks', 1), 'templates/t.yaml:7:7 via phases/p.yaml:1:1', 'an overridden task stays where the template defines it');
  assert.is(where('tasks', 2, 'run'), 'phases/p.yaml:7:10');
});

// ------------------------------------------------------------------------------ expandWorkstreams

function registry(...files: Array<[string, string]>): TemplateRegistry {
  const defs = new Map<string, TemplateDef>();
  for (const [file, text] of files) {
    const r = templateFromFile(parseSpecText(file, text));
    if (!r.def) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
    defs.set(r.def.id, r.def);
  }
  return new TemplateRegistry(defs, new Map(), () => assert.unreachable('no built-ins here'));
}

function phaseWorkstreams(text: string): LocatedWorkstream[] {
  const src = source('phases/p.yaml', text);
  return ((src.data as { workstreams: RawWorkstream[] }).workstreams ?? []).map((w, i) => ({ data: w, src, path: ['workstreams', i] }));
}

const T = registry(['templates/t.yaml', L('id: t', 'params:', '  a: { type: string }', '  b: { type: number, default: 1 }', 'body:', '  tasks: [{ id: x, run: "echo {{a}} {{b}}" }]')]);

test('expandWorkstreams: a plain workstream passes through untouched', () => {
  const ws = phaseWorkstreams(L('workstreams:', '  - id: w', '    tasks: [{ id: x, run: "echo {{a}}" }]'));
  const r = expandWorkstreams(ws, { templates: T });
  assert.equal(r.errors, []);
  assert.is(r.workstreams[0], ws[0]);
});

test('expandWorkstreams: matrix combinations, first key outermost; defaults filled', () => {
  const r = expandWorkstreams(phaseWorkstreams(L('workstreams:', '  - id: "w-{{a}}-{{b}}"', '    use: t', '    matrix: { a: [p, q], b: [1, 2] }')), { templates: T });
  assert.equal(r.errors.map(formatDiagnostic), []);
  assert.equal(
    r.workstreams.map((w) => [w.data.id, (w.data.tasks ?? [])[0]?.run, w.template]),
    [
      ['w-p-1', 'echo p 1', 't'],
      ['w-p-2', 'echo p 2', 't'],
      ['w-q-1', 'echo q 1', 't'],
      ['w-q-2', 'echo q 2', 't'],
    ],
  );
  const d = expandWorkstreams(phaseWorkstreams(L('workstreams:', '  - { id: w, use: t, with: { a: z } }')), { templates: T });
  assert.is(d.workstreams[0]!.data.tasks![0]!.run, 'echo z 1');
});

test('expandWorkstreams: each error once, however many combinations meet it', () => {
  const r = expandWorkstreams(phaseWorkstreams(L('workstreams:', '  - id: "w-{{n}}"', '    use: t', '    matrix: { n: [1, 2, 3] }', '    with: { c: 1 }')), { templates: T });
  assert.equal(
    r.errors.map((e) => e.code),
    ['E_TEMPLATE_PARAM_UNKNOWN', 'E_TEMPLATE_PARAM_MISSING'],
  );
  assert.equal(r.workstreams, []);
});

test('expandWorkstreams: recursion through two templates is reported once, at the closing use:', () => {
  const reg = registry(['templates/a.yaml', L('id: a', 'body: { use: b }')], ['templates/b.yaml', L('id: b', 'body: { use: a }')]);
  const r = expandWorkstreams(phaseWorkstreams(L('workstreams:', '  - { id: w, use: a }', '  - { id: v, use: b }')), { templates: reg });
  assert.equal(
    r.errors.map((e) => [e.code, e.loc ? formatLoc(e.loc) : '', e.loc?.via ? formatLoc(e.loc.via) : '']),
    [
      ['E_TEMPLATE_RECURSION', 'templates/b.yaml:2:14', 'phases/p.yaml:2:5'],
      ['E_TEMPLATE_RECURSION', 'templates/a.yaml:2:14', 'phases/p.yaml:3:5'],
    ],
  );
});

test('the built-in templates pass their schema and define every {{name}} they use', () => {
  const files = builtinTemplates();
  assert.equal([...files.keys()], ['node-package', 'patch-fix']);
  for (const [id, file] of files) {
    const r = templateFromFile(parseSpecText(`<uet>/templates/${id}.yaml`, readFileSync(file, 'utf8')));
    assert.equal(r.errors.map(formatDiagnostic), []);
    assert.is(r.def!.id, id, 'a built-in template is named by its file');
    assert.equal(checkUnusedTemplate(r.def!).map(formatDiagnostic), []);
  }
});

test.run();
