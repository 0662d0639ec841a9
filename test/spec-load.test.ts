import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Diagnostic } from '../lib/spec/diagnostic.js';
import { formatDiagnostic } from '../lib/spec/diagnostic.js';
import { parseDuration, parseSize } from '../lib/spec/durations.js';
import { loadProject } from '../lib/spec/load.js';
import { CONFIG_FILE, findProjectRoot } from '../lib/spec/project-root.js';
import { listSpecFiles } from '../lib/spec/spec-files.js';
import type { LoadedProject } from '../lib/spec/load.js';
import type { PhaseSpec, TaskSpec, WorkstreamSpec } from '../lib/spec/model.js';
import { suggest } from '../lib/spec/suggest.js';
import type { PosNode } from '../lib/spec/yaml-fast.js';
import { parseFast } from '../lib/spec/yaml-fast.js';
import { parseWithLibrary } from '../lib/spec/yaml-source.js';
import { isDeepStrictEqual } from 'node:util';

// ------------------------------------------------------------------------------ helpers

const L = (...lines: string[]): string => `${lines.join('\n')}\n`;

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'uet-spec-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

async function load(files: Record<string, string>): Promise<LoadedProject> {
  const r = await loadProject(project(files));
  if (!r.ok) assert.unreachable(`expected a valid project, got:\n${r.error.map(formatDiagnostic).join('\n')}`);
  return (r as { value: LoadedProject }).value;
}

async function errorsOf(files: Record<string, string>): Promise<Diagnostic[]> {
  const r = await loadProject(project(files));
  if (r.ok) assert.unreachable('expected errors, the project loaded');
  return (r as { error: Diagnostic[] }).error;
}

/** the one error with this code, checked to sit at file:line */
function one(errors: Diagnostic[], code: string, file: string, line: number): Diagnostic {
  const all = errors.filter((e) => e.code === code);
  assert.is(all.length, 1, `one ${code} expected in:\n${errors.map(formatDiagnostic).join('\n')}`);
  const e = all[0]!;
  assert.is(e.severity, 'error');
  assert.is(e.loc?.file, file, formatDiagnostic(e));
  assert.is(e.loc?.line, line, formatDiagnostic(e));
  assert.ok(e.hint && e.hint.length > 0, `no hint: ${formatDiagnostic(e)}`);
  return e;
}

const CONFIG = L('version: 1');
const phase = (id: string, ...rest: string[]): string => L(`id: ${id}`, ...rest);

function ws(p: PhaseSpec, id: string): WorkstreamSpec {
  const w = p.workstreams.find((x) => x.id === id);
  assert.ok(w, `no workstream ${id}`);
  return w!;
}
function task(w: WorkstreamSpec, id: string): TaskSpec {
  const t = w.tasks.find((x) => x.id === id);
  assert.ok(t, `no task ${id}`);
  return t!;
}

// ------------------------------------------------------------------------------ valid projects

const VALID = {
  [CONFIG_FILE]: L(
    'version: 1',
    'project: demo',
    'default: phase-2',
    'concurrency: 4',
    'env:',
    '  pass: [PATH, HOME]',
    '  hash: [NODE_ENV]',
    '  set: { LANG: C }',
    'cache:',
    '  max_size: 2GB',
    '  max_age: 7d',
    '  remote: { url: "redis://127.0.0.1:6379", write: false }',
    'tools:',
    '  tsc: { run: "npx tsc -p {cwd}", version: "npx tsc --version" }',
    '  fixer: { run: "node fix.mjs --task {task} --log {log}", produces: patch, timeout: 10m }',
    'x-owner: team-a',
  ),
  'phases/phase-1.yaml': L(
    'id: phase-1',
    'workstreams:',
    '  - id: core',
    '    tasks:',
    '      - id: build',
    '        tool: tsc',
    '        cwd: ./packages/core/',
    '        args: ["--pretty", "a b"]',
    '        inputs: ["packages/core/src/**/*.ts"]',
    '        outputs: ["packages/core/dist/**"]',
    '      - id: lint',
    '        kind: static',
    '        tool: tsc',
    '        args: --noEmit',
  ),
  'phases/phase-2.yaml': L(
    'id: phase-2',
    'name: Parser rewrite',
    'depends_on: [phase-1]',
    'max_parallel: 4',
    'files_scope:',
    '  read: ["lib/**", "test/**"]',
    '  write: ["lib/**"]',
    '  create: ["lib/**"]',
    '  forbidden: ["lib/vendor/**"]',
    'patch_policy: { max_lines_changed: 200 }',
    'gates:',
    '  - id: GATE_LINT',
    '    type: lint',
    '    needs: { kind: static }',
    '  - id: GATE_UNIT',
    '    type: unit',
    '    needs: ["*/test", "phase-2/lexer/scan"]',
    '    run: node scripts/coverage-check.mjs',
    '    blocking: false',
    '    depends_on: [GATE_LINT]',
    'workstreams:',
    '  - id: lexer',
    '    parallel_ok: false',
    '    order: none',
    '    tasks:',
    '      - id: scan',
    '        run: make scan',
    '        inputs: []',
    '        clean: false',
    '        cache: false',
    '      - id: test',
    '        kind: runtime',
    '        run: node --test',
    '        depends_on: scan',
  ),
  'phases/phase-2/parser.yaml': L(
    'name: Recursive-descent parser',
    'depends_on: [lexer, "phase-1/core", GATE_LINT, phase-1]',
    'files_scope: { write: ["lib/parser/**"], forbidden: ["lib/parser/gen/**"] }',
    'conflict_group: grammar',
    'isolation: worktree',
    'commit: true',
    'tasks:',
    '  - id: apply',
    '    kind: edit',
    '    patches: ["patches/parser/*.diff"]',
    '  - id: typecheck',
    '    kind: static',
    '    run: npx tsc --noEmit -p lib/parser',
    '    inputs: ["lib/parser/**/*.ts", "tsconfig.json"]',
    '  - id: test',
    '    kind: runtime',
    '    run: node --test dist/parser',
    '    depends_on: [typecheck, apply, "lexer/scan", "phase-1/core/build", GATE_LINT, lexer, "phase-1/core"]',
    '    retries: 2',
    '    timeout: 5m',
    '    clean: if-file-deleted',
    '    fix: fixer',
    '    env: { pass: [CI, NODE_ENV], hash: [TZ], set: { LANG: en, DEBUG: 1 } }',
  ),
  'phases/phase-2/legacy.yaml': L('id: old', 'files_scope: ["lib/old/**"]', 'tasks:', '  - { id: t, run: "true" }'),
  'phases/notes.txt': 'not a phase',
  'templates/ts-package.yaml': L('id: ts-package', 'body: { tasks: [{ id: t, run: make }] }'),
};

test('a valid multi-phase project loads with defaults, tools, env, refs and gates', async () => {
  const { spec, warnings } = await load(VALID);
  assert.equal(warnings, []);
  const c = spec.config;
  assert.is(c.project, 'demo');
  assert.equal(c.default, ['phase-2']);
  assert.is(c.concurrency, 4);
  assert.is(c.shell, '/bin/sh');
  assert.equal(c.phases, ['phases/*.yaml']);
  assert.equal(c.templates, ['templates/*.yaml']);
  assert.equal(c.env, { pass: ['HOME', 'PATH'], hash: ['NODE_ENV'], set: { LANG: 'C' } });
  assert.equal(c.cache, {
    dir: 'cache',
    maxSize: 2 * 1024 ** 3,
    maxAge: 7 * 86_400_000,
    remote: { url: 'redis://127.0.0.1:6379', read: true, write: false, timeout: 2000 },
  });
  assert.is(c.tools['fixer']!.timeout, 600_000);
  assert.is(c.tools['fixer']!.produces, 'patch');
  assert.is(c.tools['tsc']!.version, 'npx tsc --version');
  assert.equal(c.tools['tsc']!.loc, { file: CONFIG_FILE, line: 14, col: 3 });

  assert.equal(
    spec.phases.map((p) => p.id),
    ['phase-1', 'phase-2'],
  );
  assert.equal(spec.specFiles, [
    'phases/phase-1.yaml',
    'phases/phase-2.yaml',
    'phases/phase-2/legacy.yaml',
    'phases/phase-2/parser.yaml',
    'templates/ts-package.yaml',
    CONFIG_FILE,
  ]);

  const [p1, p2] = spec.phases as [PhaseSpec, PhaseSpec];
  // tool expansion: {cwd} -> the task's normalised cwd, list args shell-quoted, string args as written
  const build = task(ws(p1, 'core'), 'build');
  assert.is(build.cwd, 'packages/core');
  assert.is(build.run, "npx tsc -p packages/core --pretty 'a b'");
  assert.is(build.tool, 'tsc');
  assert.is(task(ws(p1, 'core'), 'lint').run, 'npx tsc -p . --noEmit');
  // task defaults
  assert.equal(
    { kind: build.kind, retries: build.retries, cache: build.cache, clean: build.clean, patches: build.patches, timeout: build.timeout },
    { kind: 'build', retries: 0, cache: true, clean: 'true', patches: [], timeout: undefined },
  );
  assert.equal(build.inputs, ['packages/core/src/**/*.ts']);
  assert.equal(build.outputs, ['packages/core/dist/**']);
  assert.equal(build.loc, { file: 'phases/phase-1.yaml', line: 5, col: 9 });

  assert.is(p2.name, 'Parser rewrite');
  assert.is(p2.maxParallel, 4);
  assert.equal(p2.patchPolicy, { max_lines_changed: 200 });
  assert.equal(p2.dependsOn.map((d) => d.resolved), [{ kind: 'phase', id: 'phase-1' }]);
  assert.equal(p2.dependsOn[0]!.loc, { file: 'phases/phase-2.yaml', line: 3, col: 14 });

  // inline workstreams first, then files in byte order (legacy.yaml's id is 'old')
  assert.equal(
    p2.workstreams.map((w) => w.id),
    ['lexer', 'old', 'parser'],
  );
  const lexer = ws(p2, 'lexer');
  assert.equal([lexer.parallelOk, lexer.order, lexer.isolation, lexer.declaresScope], [false, 'none', 'none', false]);
  assert.equal(lexer.filesScope, { read: ['lib/**', 'test/**'], write: ['lib/**'], create: ['lib/**'], forbidden: ['lib/vendor/**'] });
  const scan = task(lexer, 'scan');
  assert.equal([scan.inputs, scan.outputs, scan.clean, scan.cache], [[], undefined, 'false', false]);
  assert.equal(task(lexer, 'test').dependsOn.map((d) => d.resolved), [{ kind: 'task', id: 'phase-2/lexer/scan' }]);

  const old = ws(p2, 'old');
  assert.equal(old.filesScope.write, ['lib/old/**']);
  assert.equal(old.filesScope.read, ['lib/**', 'test/**']);
  assert.ok(old.declaresScope);

  const parser = ws(p2, 'parser');
  assert.is(parser.fullId, 'phase-2/parser');
  assert.is(parser.name, 'Recursive-descent parser');
  assert.is(parser.conflictGroup, 'grammar');
  assert.is(parser.isolation, 'worktree');
  assert.equal(parser.extra, { commit: true });
  assert.ok(parser.declaresScope);
  assert.equal(parser.filesScope, {
    read: ['lib/**', 'test/**'],
    write: ['lib/parser/**'],
    create: ['lib/**'],
    forbidden: ['lib/parser/gen/**', 'lib/vendor/**'],
  });
  assert.equal(parser.loc, { file: 'phases/phase-2/parser.yaml', line: 1, col: 1 });
  assert.equal(
    parser.dependsOn.map((d) => [d.raw, d.resolved]),
    [
      ['lexer', { kind: 'ws', id: 'phase-2/lexer' }],
      ['phase-1/core', { kind: 'ws', id: 'phase-1/core' }],
      ['GATE_LINT', { kind: 'gate', id: 'phase-2/GATE_LINT' }],
      ['phase-1', { kind: 'phase', id: 'phase-1' }],
    ],
  );
  assert.equal(parser.dependsOn[1]!.loc, { file: 'phases/phase-2/parser.yaml', line: 2, col: 21 });

  const t = task(parser, 'test');
  assert.is(t.fullId, 'phase-2/parser/test');
  assert.equal(
    t.dependsOn.map((d) => d.resolved),
    [
      { kind: 'task', id: 'phase-2/parser/typecheck' },
      { kind: 'task', id: 'phase-2/parser/apply' },
      { kind: 'task', id: 'phase-2/lexer/scan' },
      { kind: 'task', id: 'phase-1/core/build' },
      { kind: 'gate', id: 'phase-2/GATE_LINT' },
      { kind: 'ws', id: 'phase-2/lexer' },
      { kind: 'ws', id: 'phase-1/core' },
    ],
  );
  assert.is(t.timeout, 300_000);
  assert.is(t.retries, 2);
  assert.is(t.clean, 'if-file-deleted');
  assert.is(t.fix, 'fixer');
  assert.is(t.kind, 'runtime');
  // env: union of names (hash wins over pass), task set overrides the config's
  assert.equal(t.env, { pass: ['CI', 'HOME', 'PATH'], hash: ['NODE_ENV', 'TZ'], set: { LANG: 'en', DEBUG: '1' } });
  assert.equal(task(parser, 'apply').patches, ['patches/parser/*.diff']);
  assert.is(task(parser, 'apply').run, undefined);

  // gates: members from a kind, and from globs + full refs; sorted, unique
  const [lint, unit] = p2.gates;
  assert.is(lint!.fullId, 'phase-2/GATE_LINT');
  assert.equal(lint!.members, ['phase-2/parser/typecheck']);
  assert.equal([lint!.type, lint!.blocking, lint!.run], ['lint', true, undefined]);
  assert.equal(unit!.members, ['phase-2/lexer/scan', 'phase-2/lexer/test', 'phase-2/parser/test']);
  assert.equal([unit!.type, unit!.blocking, unit!.run], ['unit', false, 'node scripts/coverage-check.mjs']);
  assert.equal(unit!.dependsOn.map((d) => d.resolved), [{ kind: 'gate', id: 'phase-2/GATE_LINT' }]);
});

test('findProjectRoot walks up to the folder of uet.config.yaml', () => {
  const dir = project({ [CONFIG_FILE]: CONFIG, 'a/b/c/.keep': '' });
  assert.is(findProjectRoot(join(dir, 'a/b/c')), dir);
  assert.is(findProjectRoot(dir), dir);
  const none = mkdtempSync(join(tmpdir(), 'uet-none-'));
  assert.is(findProjectRoot(none), undefined);
});

test('loadProject without a config: E_CONFIG_NOT_FOUND', async () => {
  const r = await loadProject(mkdtempSync(join(tmpdir(), 'uet-none-')));
  assert.not.ok(r.ok);
  const e = (r as { error: Diagnostic[] }).error;
  assert.equal(e.map((d) => d.code), ['E_CONFIG_NOT_FOUND']);
  assert.ok(e[0]!.hint);
});

test('listSpecFiles lists config, phases, workstream files and templates without parsing', async () => {
  const dir = project({
    [CONFIG_FILE]: CONFIG,
    'phases/b.yaml': '{{{ not yaml',
    'phases/a.yml': '',
    'phases/a/w1.yaml': '',
    'phases/a/w2.yml': '',
    'phases/a/readme.md': '',
    'phases/a/deeper/x.yaml': '',
    'phases/c/orphan.yaml': '',
    'templates/t.yaml': '',
    'other/x.yaml': '',
  });
  assert.equal(await listSpecFiles(dir, { phases: ['phases/*.yaml', 'phases/*.yml'], templates: ['templates/*.yaml'] }), [
    'phases/a.yml',
    'phases/a/w1.yaml',
    'phases/a/w2.yml',
    'phases/b.yaml',
    'templates/t.yaml',
    CONFIG_FILE,
  ]);
  // a recursive phase glob does not turn workstream files into phases
  assert.equal(await listSpecFiles(dir, { phases: ['phases/**/*.yml', 'phases/**/*.yaml'], templates: [] }), [
    'phases/a.yml',
    'phases/a/w1.yaml',
    'phases/a/w2.yml',
    'phases/b.yaml',
    'phases/c/orphan.yaml',
    CONFIG_FILE,
  ]);
});

test('W_EMPTY_PHASE and W_UNUSED_GATE are warnings, not errors', async () => {
  const { warnings } = await load({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': phase('p', 'gates:', '  - id: G', '    needs: { kind: static }', 'workstreams:', '  - { id: w, tasks: [{ id: t, run: make }] }'),
    'phases/q.yaml': phase('q'),
  });
  assert.equal(
    warnings.map((w) => [w.code, w.loc?.file, w.loc?.line, w.severity]),
    [
      ['W_UNUSED_GATE', 'phases/p.yaml', 4, 'warning'],
      ['W_EMPTY_PHASE', 'phases/q.yaml', 1, 'warning'],
    ],
  );
});

test('phase and workstream ids default to their file names; a templated matrix id is expanded', async () => {
  const { spec } = await load({
    [CONFIG_FILE]: L('version: 1', 'phases: phases/*.yaml'),
    'templates/ts.yaml': L('id: ts-package', 'params: { pkg: { type: string } }', 'body: { tasks: [{ id: t, run: "make {{pkg}}" }] }'),
    'phases/PH-CORE-01.yaml': L('workstreams:', '  - id: "pkg-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli, web] }', '    x-note: hi'),
    'phases/PH-CORE-01/w.yaml': L('tasks: [{ id: t, run: make }]'),
  });
  const p = spec.phases[0]!;
  assert.is(p.id, 'PH-CORE-01');
  assert.equal(p.workstreams.map((w) => w.id), ['pkg-cli', 'pkg-web', 'w']);
  // use/with/matrix are spent by the expansion: only the workstream's own extra keys remain
  assert.equal(p.workstreams[0]!.extra, { 'x-note': 'hi' });
  assert.is(p.workstreams[1]!.tasks[0]!.run, 'make web');
});

// ------------------------------------------------------------------------------ errors

test('E_YAML: a syntax error at the yaml library position', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': L('id: p', 'workstreams:', '  - id: w', '    tasks: [', '      { id: t, run: make }', '  oops: {'),
  });
  const e = errors.find((x) => x.code === 'E_YAML');
  assert.ok(e, errors.map(formatDiagnostic).join('\n'));
  assert.is(e!.loc!.file, 'phases/p.yaml');
  assert.ok(e!.loc!.line >= 4 && e!.loc!.line <= 7, formatDiagnostic(e!));
  assert.ok(e!.hint);

  // an exact position: a duplicate key
  const dup = await errorsOf({ [CONFIG_FILE]: L('version: 1', 'shell: /bin/sh', 'shell: /bin/bash') });
  const d = one(dup, 'E_YAML', CONFIG_FILE, 3);
  assert.is(d.loc!.col, 1);
  assert.match(d.message, /unique/);

  // tab indentation
  const tab = await errorsOf({ [CONFIG_FILE]: CONFIG, 'phases/p.yaml': 'id: p\nworkstreams:\n\t- id: w\n' });
  assert.is(tab[0]!.code, 'E_YAML');
  assert.is(tab[0]!.loc!.line, 3);
});

test('E_SCHEMA: an unknown key points at the key, with did-you-mean', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': phase('p', 'workstreams:', '  - id: w', '    tasks:', '      - id: t', '        run: make', '        dependson: [x]'),
  });
  const e = one(errors, 'E_SCHEMA', 'phases/p.yaml', 7);
  assert.is(e.loc!.col, 9);
  assert.match(e.message, "task 'w/t' has an unknown key 'dependson'");
  assert.match(e.message, "did you mean 'depends_on'?");
  assert.match(e.hint!, 'depends_on');
});

test('E_SCHEMA: wrong values, missing keys, config and workstream files', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: L('version: 2', 'concurrency: lots', 'cache: { max_size: huge }', 'tools:', '  tsc: { version: x }'),
    'phases/p.yaml': phase(
      'p',
      'gates:',
      '  - id: G',
      '    needs: { kinds: static }',
      'workstreams:',
      '  - tasks: [{ id: t, run: make }]',
      '  - id: w',
      '    files_scope: { wirte: ["lib/**"] }',
      '    tasks:',
      '      - id: bad id',
      '        run: make',
      '        kind: bild',
      '        timeout: 5 minutes',
      '        retries: -1',
      '        inputs: [1]',
    ),
    'phases/p/f.yaml': L('tasks:', '  - id: t', '    run: [make]'),
  });
  const at = (file: string, line: number): Diagnostic[] => errors.filter((e) => e.loc?.file === file && e.loc.line === line);
  const msg = (file: string, line: number): string => at(file, line).map((e) => e.message).join(' | ');
  for (const e of errors) {
    assert.is(e.code, 'E_SCHEMA', formatDiagnostic(e));
    assert.ok(e.hint, formatDiagnostic(e));
  }
  assert.match(msg(CONFIG_FILE, 1), /version must be 1, not 2/);
  assert.match(msg(CONFIG_FILE, 2), /concurrency must be a whole number, 1 or more, or auto, not 'lots'/);
  assert.match(msg(CONFIG_FILE, 3), /cache.max_size must be a size such as 500MB/);
  assert.match(msg(CONFIG_FILE, 5), /tool 'tsc' is missing the required key 'run'/);
  assert.match(msg('phases/p.yaml', 4), /gate 'G': needs has an unknown key 'kinds' \(did you mean 'kind'\?\)/);
  assert.is(at('phases/p.yaml', 4).length, 1, 'no echo of the missing kind');
  assert.match(msg('phases/p.yaml', 6), /workstream '#1' is missing the required key 'id'/);
  assert.match(msg('phases/p.yaml', 8), /unknown key 'wirte' \(did you mean 'write'\?\)/);
  assert.match(msg('phases/p.yaml', 10), /task 'w\/bad id': id must be an id/);
  assert.match(msg('phases/p.yaml', 12), /kind must be one of edit, static, runtime, build, not 'bild' \(did you mean 'build'\?\)/);
  assert.match(msg('phases/p.yaml', 13), /timeout must be a duration such as 250ms/);
  assert.match(msg('phases/p.yaml', 14), /retries must be a whole number, 0 or more, not -1/);
  assert.match(msg('phases/p.yaml', 15), /inputs\[0\] must be a glob/);
  assert.match(msg('phases/p/f.yaml', 3), /task 'f\/t': run must be a string, not a list/);
  assert.is(errors.length, 13, errors.map(formatDiagnostic).join('\n'));
  // sorted by file, line
  assert.equal(errors.map((e) => e.loc!.file), [...errors.map((e) => e.loc!.file)].sort());
});

test('E_SCHEMA: an empty or non-mapping file, and x- keys are allowed', async () => {
  const errors = await errorsOf({ [CONFIG_FILE]: L('version: 1', 'x-anything: { ok: true }'), 'phases/p.yaml': '- a\n- b\n' });
  const e = one(errors, 'E_SCHEMA', 'phases/p.yaml', 1);
  assert.match(e.message, /this file must hold a uet phase \(a mapping of keys\), not a list/);
  const empty = await errorsOf({ [CONFIG_FILE]: '# nothing yet\n' });
  assert.match(one(empty, 'E_SCHEMA', CONFIG_FILE, 1).message, 'must hold a uet config');
});

test('E_SCHEMA: run and tool together', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: L('version: 1', 'tools: { tsc: { run: tsc } }'),
    'phases/p.yaml': phase('p', 'workstreams:', '  - id: w', '    tasks:', '      - id: t', '        run: make', '        tool: tsc'),
  });
  assert.match(one(errors, 'E_SCHEMA', 'phases/p.yaml', 7).message, 'both run: and tool:');
});

test('E_DUPLICATE_ID: phases across files, workstreams, tasks, gates, gate = workstream', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/a.yaml': phase('same', 'workstreams: [{ id: w, tasks: [{ id: t, run: make }] }]'),
    'phases/b.yaml': L('name: B', 'id: same'),
    'phases/p.yaml': phase(
      'p',
      'gates:',
      '  - id: G',
      '  - id: G',
      '  - id: w',
      'workstreams:',
      '  - id: w',
      '    tasks:',
      '      - { id: t, run: make }',
      '      - { id: t, run: make }',
    ),
    'phases/p/w.yaml': L('tasks: [{ id: x, run: make }]'),
  });
  assert.is(errors.length, 5, errors.map(formatDiagnostic).join('\n'));
  const ph = errors.find((e) => e.loc?.file === 'phases/b.yaml')!;
  assert.is(ph.code, 'E_DUPLICATE_ID');
  assert.equal([ph.loc!.line, ph.loc!.col], [2, 5]);
  assert.match(ph.message, "phase id 'same'");
  assert.match(ph.message, 'phases/a.yaml');
  assert.match(ph.message, 'phases/b.yaml');
  const inP = errors.filter((e) => e.loc?.file === 'phases/p.yaml').map((e) => [e.code, e.loc!.line]);
  assert.equal(inP, [
    ['E_DUPLICATE_ID', 4],
    ['E_DUPLICATE_ID', 5],
    ['E_DUPLICATE_ID', 10],
  ]);
  const wsDup = one(errors.filter((e) => e.loc?.file === 'phases/p/w.yaml'), 'E_DUPLICATE_ID', 'phases/p/w.yaml', 1);
  assert.match(wsDup.message, "workstream id 'w' is used twice in phase 'p' (first at phases/p.yaml:7:9)");
  assert.match(errors.find((e) => e.loc?.line === 5)!.message, 'also the id of a workstream');
  assert.match(errors.find((e) => e.loc?.line === 10)!.message, "task id 't' is used twice in workstream 'p/w'");
});

test('E_UNKNOWN_DEP with did-you-mean, for tasks, workstreams and gates', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/phase-1.yaml': phase('phase-1', 'workstreams: [{ id: core, tasks: [{ id: build, run: make }] }]'),
    'phases/phase-2.yaml': phase(
      'phase-2',
      'gates:',
      '  - { id: GATE_UNIT, depends_on: [parsr] }',
      'workstreams:',
      '  - id: parser',
      '    depends_on: ["phase-1/cor"]',
      '    tasks:',
      '      - id: compile',
      '        run: make',
      '      - id: test',
      '        run: make test',
      '        depends_on: [compil, "phase-1/core/biuld", "nope/x/y/z"]',
    ),
  });
  const deps = errors.filter((e) => e.code === 'E_UNKNOWN_DEP');
  assert.is(deps.length, 5, errors.map(formatDiagnostic).join('\n'));
  assert.is(errors.length, 5);
  const [gate, wsd, t1, t2, t3] = deps;
  assert.equal([gate!.loc!.line, gate!.loc!.col], [3, 35]);
  assert.match(gate!.message, "gate 'GATE_UNIT' depends on 'parsr' (did you mean 'parser'?)");
  assert.equal([wsd!.loc!.line, wsd!.loc!.col], [6, 18]);
  assert.match(wsd!.message, "workstream 'parser' depends on 'phase-1/cor' (did you mean 'phase-1/core'?)");
  assert.equal([t1!.loc!.line, t1!.loc!.col], [12, 22]);
  assert.is(
    formatDiagnostic(t1!).split('\n')[0],
    "phases/phase-2.yaml:12:22 E_UNKNOWN_DEP task 'parser/test' depends on 'compil' (did you mean 'compile'?)",
  );
  assert.match(t2!.message, "(did you mean 'phase-1/core/build'?)");
  assert.not.match(t3!.message, 'did you mean');
  for (const e of deps) assert.ok(e.hint);
});

test('E_UNKNOWN_PHASE and E_CYCLE (self-dependencies)', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/alpha.yaml': phase('alpha', 'depends_on: [alpah, alpha]', 'workstreams:', '  - id: w', '    depends_on: [w]', '    tasks:', '      - { id: t, run: make, depends_on: [t] }', '      - { id: u, run: make, depends_on: [w] }'),
  });
  const up = one(errors, 'E_UNKNOWN_PHASE', 'phases/alpha.yaml', 2);
  assert.match(up.message, "depends on 'alpah', which is no phase (did you mean 'alpha'?)");
  const cycles = errors.filter((e) => e.code === 'E_CYCLE');
  assert.equal(cycles.map((e) => [e.loc!.line, e.loc!.col]), [
    [2, 21],
    [5, 18],
    [7, 42],
    [8, 42],
  ]);
  for (const c of cycles) assert.ok(c.hint);
  assert.is(errors.length, 5);
});

test('E_GATE_NEEDS: an entry matching no task, with did-you-mean', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': phase(
      'p',
      'gates:',
      '  - id: G',
      '    needs:',
      '      - "*/test"',
      '      - "w/tset"',
      '      - "*/nothing*"',
      '      - w',
      'workstreams: [{ id: w, tasks: [{ id: test, run: make }] }]',
    ),
  });
  assert.is(errors.length, 2, errors.map(formatDiagnostic).join('\n'));
  assert.match(errors[0]!.message, "gate 'G' needs 'w/tset', which matches no task (did you mean 'w/test'?)");
  assert.equal([errors[0]!.loc!.line, errors[0]!.loc!.col], [6, 9]);
  assert.is(errors[1]!.loc!.line, 7);
  for (const e of errors) assert.is(e.code, 'E_GATE_NEEDS');
});

test('E_UNKNOWN_TOOL for tool: and fix:, with did-you-mean', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: L('version: 1', 'tools:', '  tsc: { run: tsc }', '  fixer: { run: fix, produces: patch }'),
    'phases/p.yaml': phase('p', 'workstreams:', '  - id: w', '    tasks:', '      - id: a', '        tool: tcs', '      - id: b', '        run: make', '        fix: fxer'),
  });
  assert.is(errors.length, 2, errors.map(formatDiagnostic).join('\n'));
  const a = errors[0]!;
  assert.equal([a.code, a.loc!.line, a.loc!.col], ['E_UNKNOWN_TOOL', 6, 15]);
  assert.match(a.message, "(did you mean 'tsc'?)");
  assert.match(a.hint!, 'fixer, tsc');
  const b = errors[1]!;
  assert.equal([b.code, b.loc!.line], ['E_UNKNOWN_TOOL', 9]);
  assert.match(b.message, "fix: 'fxer' names no tool of the config (did you mean 'fixer'?)");
});

test('E_NO_ACTION: a task with neither run, tool nor patches', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': phase('p', 'workstreams:', '  - id: w', '    tasks:', '      - id: ok', '        patches: ["p/*.diff"]', '      - id: idle', '        kind: static', '        patches: []'),
  });
  const e = one(errors, 'E_NO_ACTION', 'phases/p.yaml', 7);
  assert.is(e.loc!.col, 9);
  assert.match(e.message, "task 'w/idle'");
  assert.match(e.hint!, 'run:');
  assert.is(errors.length, 1);
});

test('E_GLOB_OUTSIDE_ROOT for inputs, outputs, patches, files_scope, cwd and config globs', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: L('version: 1', 'phases: ["phases/*.yaml", "../elsewhere/*.yaml"]'),
    'phases/p.yaml': phase(
      'p',
      'files_scope: { write: ["/etc/**"] }',
      'workstreams:',
      '  - id: w',
      '    files_scope: ["lib/**", "lib/../../x"]',
      '    tasks:',
      '      - id: t',
      '        run: make',
      '        cwd: ../up',
      '        inputs: ["src/**", "src/../../../x"]',
      '        outputs: ["**/../out"]',
      '        patches: ["a/b/../../p.diff", "../p.diff"]',
      '        depends_on: []',
    ),
  });
  assert.equal(
    errors.map((e) => [e.code, e.loc!.file, e.loc!.line, e.loc!.col]),
    [
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 2, 24],
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 5, 29],
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 9, 14],
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 10, 28],
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 11, 19],
      ['E_GLOB_OUTSIDE_ROOT', 'phases/p.yaml', 12, 39],
      ['E_GLOB_OUTSIDE_ROOT', CONFIG_FILE, 2, 27],
    ],
  );
  for (const e of errors) assert.match(e.hint!, 'project root');
});

test('several errors of different kinds, in several files, are reported at once', async () => {
  const errors = await errorsOf({
    [CONFIG_FILE]: L('version: 1', 'tools: { tsc: { run: tsc } }'),
    'phases/a.yaml': phase('a', 'workstreams:', '  - id: w', '    tasks:', '      - { id: t, tool: tcs }', '      - { id: u }'),
    'phases/b.yaml': phase('b', 'depends_on: [c]', 'workstreams:', '  - id: w', '    tasks:', '      - { id: t, run: make, depends_on: [a/w/x] }'),
  });
  assert.equal(
    errors.map((e) => [e.loc!.file, e.loc!.line, e.code]),
    [
      ['phases/a.yaml', 5, 'E_UNKNOWN_TOOL'],
      ['phases/a.yaml', 6, 'E_NO_ACTION'],
      ['phases/b.yaml', 2, 'E_UNKNOWN_PHASE'],
      ['phases/b.yaml', 6, 'E_UNKNOWN_DEP'],
    ],
  );
  // schema errors of several files together, too
  const schema = await errorsOf({
    [CONFIG_FILE]: L('version: 1', 'shel: /bin/bash'),
    'phases/a.yaml': phase('a', 'workstream: []'),
    'phases/b.yaml': 'id: [b',
  });
  assert.equal(
    schema.map((e) => [e.loc!.file, e.code]),
    [
      ['phases/a.yaml', 'E_SCHEMA'],
      ['phases/b.yaml', 'E_YAML'],
      [CONFIG_FILE, 'E_SCHEMA'],
    ],
  );
  assert.match(schema[2]!.message, "did you mean 'shell'?");
  assert.match(schema[0]!.message, "did you mean 'workstreams'?");
});

test('durations and sizes', () => {
  assert.is(parseDuration('5m'), 300_000);
  assert.is(parseDuration('60s'), 60_000);
  assert.is(parseDuration('1h'), 3_600_000);
  assert.is(parseDuration('250ms'), 250);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('1.5s'), 1500);
  assert.is(parseDuration('1500'), 1500);
  assert.is(parseDuration(1500), 1500);
  assert.is(parseDuration('5 minutes'), undefined);
  assert.is(parseDuration('m'), undefined);
  assert.is(parseDuration(-1), undefined);
  assert.is(parseDuration(''), undefined);
  assert.is(parseSize('2GB'), 2 * 1024 ** 3);
  assert.is(parseSize('500MB'), 500 * 1024 ** 2);
  assert.is(parseSize('5 GB'), 5 * 1024 ** 3);
  assert.is(parseSize('1024'), 1024);
  assert.is(parseSize('1.5k'), 1536);
  assert.is(parseSize('2GiB'), 2 * 1024 ** 3);
  assert.is(parseSize(4096), 4096);
  assert.is(parseSize('huge'), undefined);
  assert.is(parseSize('5 XB'), undefined);
});

test('suggest finds the closest candidate, or nothing', () => {
  assert.is(suggest('compil', ['test', 'compile', 'lint']), 'compile');
  assert.is(suggest('tset', ['test', 'build']), 'test');
  assert.is(suggest('Build', ['build', 'guild']), 'build');
  assert.is(suggest('xyz', ['compile', 'test']), undefined);
  assert.is(suggest('ab', ['xy']), undefined);
  assert.is(suggest('phase-1/core/biuld', ['phase-1/core/build', 'phase-2/core/build']), 'phase-1/core/build');
  assert.is(suggest('anything', []), undefined);
});

// ------------------------------------------------------------------------------ YAML fast path

function samePos(a: PosNode, b: PosNode, path: string): string | undefined {
  if (a.s !== b.s) return `${path}: at ${a.s} vs ${b.s}`;
  if (!!a.m !== !!b.m || !!a.i !== !!b.i) return `${path}: kind`;
  if (a.m) {
    for (const [k, e] of a.m) {
      const f = b.m!.get(k);
      if (!f) return `${path}: key ${k}`;
      if (e.k !== f.k) return `${path}.${k}: key at ${e.k} vs ${f.k}`;
      const d = samePos(e.v, f.v, `${path}.${k}`);
      if (d) return d;
    }
  }
  if (a.i) {
    for (let i = 0; i < a.i.length; i++) {
      const d = samePos(a.i[i]!, b.i![i]!, `${path}[${i}]`);
      if (d) return d;
    }
  }
  return undefined;
}

/** 'fast' when the fast path took it (and agreed with the library), 'library' when it declined */
function differential(text: string): 'fast' | 'library' {
  const fast = parseFast(text);
  if (!fast) return 'library';
  const lib = parseWithLibrary(text);
  if (!lib.ok) assert.unreachable(`fast path accepted what the library rejects: ${JSON.stringify(text)}: ${lib.errors[0]!.message}`);
  const lp = (lib as { parsed: { data: unknown; pos: PosNode } }).parsed;
  assert.ok(isDeepStrictEqual(fast.data, lp.data), `data differs for ${JSON.stringify(text)}: ${JSON.stringify(fast.data)} vs ${JSON.stringify(lp.data)}`);
  const d = samePos(fast.pos, lp.pos, '$');
  assert.is(d, undefined, `positions differ for ${JSON.stringify(text)}: ${d}`);
  return 'fast';
}

test('the fast YAML path equals the yaml library (data and positions) wherever it answers', () => {
  for (const [file, text] of Object.entries(VALID)) if (file.endsWith('.yaml')) assert.is(differential(text), 'fast', text);
  // outside the subset: left to the library
  for (const text of ['a: &x 1\nb: *x\n', 'a: |\n  x\n', 'a: "multi\n  line"\n', 'a:\tb\n', '--- \na: 1\n', 'a: [x,\n  y]\n', 'a: b: c\n', 'a: 1\na: 2\n', 'k: *alias\n', '? a\n: b\n', 'a: .nan\n', '1: x\n']) {
    assert.is(parseFast(text), undefined, text);
  }
  // a seeded fuzz over block/flow structures and tricky scalars
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const SAFE = ['a', 'make', 'npx tsc -p lib', '"quoted"', "'single'", '1', '-1', 'true', 'null', '[a, b]', '{ k: v }', 'redis://x:1', '--flag', '[]', '{}', 'lib/**/*.ts', '"*/test"', 'a#b', 'x # c', '{ a: [1, {b: c}] }', '[{a: 1}, [2]]', '1.5', '0x1F', '-x', '""'];
  const ODD = ['+1', '007', '0o17', '.5', '1e3', '1.', '-', 'False', '~', 'NULL', 'yes', '1.2.3', 'a:b', 'a: b', '*/test', '&x', '!tag', '|', '@x', '?x', ':x', 'x:', '{k: v}', '[a,b]', '[ a , b ]', '[a, ]', '{ a: }', '[a: b]', '{ "q": 1 }', '"unclosed', "'it''s'", '"e \\" \\n \\u00e9 \\x41"', 'echo [x]', 'a, b', '.inf', '12:30', 'é', 'a  b', '[[a]]', '"\\q"', '#', '__proto__'];
  const scalar = (): string => pick(rnd() < 0.85 ? SAFE : ODD);
  const key = (): string => pick(rnd() < 0.9 ? ['id', 'run', 'a', 'b', 'x-y', '"q k"'] : ['1', 'true', 'null', '__proto__', '<<', 'a b', 'k#', '? k', '-k', 'k:', "'k'"]);
  const value = (indent: number, depth: number): string => {
    const r = rnd();
    if (depth > 3 || r < 0.5) return ` ${scalar()}${rnd() < 0.1 ? ' # c' : ''}`;
    if (r < 0.6) return '';
    const ind = indent + pick([2, 2, 2, 4, 1, 0]);
    if (r < 0.8) return `\n${map(ind, depth + 1)}`;
    return `\n${seq(rnd() < 0.3 ? indent : ind, depth + 1)}`;
  };
  const map = (indent: number, depth: number): string => {
    const lines: string[] = [];
    for (let i = 0, n = 1 + Math.floor(rnd() * 4); i < n; i++) {
      lines.push(`${' '.repeat(indent)}${key()}:${value(indent, depth)}`);
      if (rnd() < 0.05) lines.push(`${' '.repeat(Math.floor(rnd() * 6))}# comment`);
    }
    return lines.join('\n');
  };
  const seq = (indent: number, depth: number): string => {
    const lines: string[] = [];
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) {
      const r = rnd();
      if (r < 0.4) lines.push(`${' '.repeat(indent)}- ${scalar()}`);
      else if (r < 0.5) lines.push(`${' '.repeat(indent)}-${value(indent, depth)}`);
      else lines.push(`${' '.repeat(indent)}- ${map(indent + 2, depth + 1).slice(indent + 2)}`);
    }
    return lines.join('\n');
  };
  let fast = 0;
  for (let i = 0; i < 4000; i++) if (differential(rnd() < 0.5 ? `${map(0, 0)}\n` : seq(0, 0)) === 'fast') fast++;
  assert.ok(fast > 1000, `the fast path took only ${fast} of 4000`);
});

test('a file outside the fast subset loads through the library, with the same locations', async () => {
  const { spec } = await load({
    [CONFIG_FILE]: CONFIG,
    'phases/p.yaml': L(
      'id: p',
      'workstreams:',
      '  - id: w',
      '    tasks:',
      '      - id: a',
      '        run: &cmd make all',
      '      - id: b',
      '        run: |',
      '          echo one',
      '          echo two',
      '        depends_on:',
      '          - a',
    ),
  });
  const w = spec.phases[0]!.workstreams[0]!;
  assert.is(w.tasks[1]!.run, 'echo one\necho two\n');
  assert.equal(w.tasks[1]!.loc, { file: 'phases/p.yaml', line: 7, col: 9 });
  assert.equal(w.tasks[1]!.dependsOn[0]!.loc, { file: 'phases/p.yaml', line: 12, col: 13 });
});

test.run();
