/**
 * Templates (SPEC 1.5) through the real CLI on real temporary projects: expansion,
 * overrides, matrices, templates using templates, the built-in templates, the compiled-graph
 * cache, keys, and every template error with its two places. Which tasks ran is read from a
 * side-effect file the tasks append to.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { countLines, makeProject, readText, REPO_ROOT, removeProject, runUet, writeText , withProject } from './helpers/project.js';
import type { RunResult } from './helpers/project.js';
import { graphCacheJson, graphCacheText, type GraphCacheJson } from '../lib/graph/graph-cache.js';

const L = (...lines: string[]): string => `${lines.join('\n')}\n`;
/** phases/p.yaml holding these workstream lines */
const USE = (...lines: string[]): string => L('id: p', 'workstreams:', ...lines);
const CONFIG = L('version: 1', 'project: t', 'tools:', '  fixer: { run: "true" }');

/** templates/ts.yaml: the template of SPEC 1.5, with commands that log what ran */
const TS_TEMPLATE = L(
  'id: ts-package', //                                         1
  'description: Typecheck and build one package', //            2
  'params:', //                                                 3
  '  pkg:          { type: string, description: "folder under packages/" }', // 4
  '  strict:       { type: boolean, default: true }', //        5
  '  extra_inputs: { type: list, default: [] }', //             6
  '  retries:      { type: number, default: 0 }', //            7
  'body:', //                                                   8
  '  files_scope: { write: ["packages/{{pkg}}/**"] }', //       9
  '  tasks:', //                                               10
  '    - id: typecheck', //                                    11
  '      kind: static', //                                     12
  '      run: "echo typecheck {{pkg}} strict={{strict}} >> runs.log"', // 13
  '      inputs: ["packages/{{pkg}}/src/**/*.ts", "{{extra_inputs}}"]', // 14
  '      retries: "{{retries}}"', //                           15
  '    - id: build', //                                        16
  '      run: "echo build {{pkg}} >> runs.log"', //            17
  '      inputs: ["packages/{{pkg}}/src/**/*.ts"]', //         18
  '      outputs: ["packages/{{pkg}}/dist/**"]', //            19
);

function project(files: Record<string, string>): string {
  return makeProject({ 'uet.config.yaml': CONFIG, ...files });
}

async function inProject(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = project(files);
  try {
    await body(dir);
  } finally {
    removeProject(dir);
  }
}

type Ws = Record<string, unknown> & { id: string; tasks?: Array<Record<string, unknown>> };

/** `uet validate --expand`, parsed: workstreams by id (and the comment headers) */
async function expand(dir: string): Promise<{ byId: Map<string, Ws>; out: RunResult }> {
  const out = await runUet(dir, ['validate', '--expand']);
  assert.is(out.code, 0, out.stdout + out.stderr);
  const byId = new Map<string, Ws>();
  for (const doc of parseAllDocuments(out.stdout)) {
    if ('errors' in doc && doc.errors.length > 0) assert.unreachable(String(doc.errors[0]));
    const ws = (doc as { toJS(): unknown }).toJS() as Ws | null;
    if (ws) byId.set(ws.id, ws);
  }
  return { byId, out };
}

function taskOf(ws: Ws | undefined, id: string): Record<string, unknown> {
  const t = ws?.tasks?.find((x) => x['id'] === id);
  if (!t) assert.unreachable(`no task ${id} in ${JSON.stringify(ws)}`);
  return t!;
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop() ?? '';
}

// ------------------------------------------------------------------------------ expansion

test('use + with: parameters filled, typed values, a list spliced, a task overridden and one added', async () => {
  await inProject(
    {
      'templates/ts.yaml': TS_TEMPLATE,
      'phases/p.yaml': USE(
        '  - id: core',
        '    use: ts-package',
        '    with: { pkg: core, strict: false, extra_inputs: [tsconfig.json, "lib/*.d.ts"], retries: 2 }',
        '    tasks:',
        '      - id: build',
        '        run: "echo build core --incremental >> runs.log"',
        '      - id: size',
        '        run: "echo size {{pkg}} >> runs.log"',
        '        depends_on: [build]',
      ),
    },
    async (dir) => {
      const { byId, out } = await expand(dir);
      assert.match(out.stdout, /# p\/core \(phases\/p\.yaml:3:5, from template ts-package\)/);
      assert.match(out.stderr, /ok: 1 phases, 1 workstreams, 3 tasks/);
      const core = byId.get('core');
      assert.equal(core?.['files_scope'], { write: ['packages/core/**'] });
      assert.equal(taskOf(core, 'typecheck'), {
        id: 'typecheck',
        kind: 'static',
        run: 'echo typecheck core strict=false >> runs.log',
        inputs: ['packages/core/src/**/*.ts', 'tsconfig.json', 'lib/*.d.ts'],
        retries: 2,
      });
      // overridden: its own run, the template's inputs and outputs
      assert.equal(taskOf(core, 'build'), {
        id: 'build',
        run: 'echo build core --incremental >> runs.log',
        inputs: ['packages/core/src/**/*.ts'],
        outputs: ['packages/core/dist/**'],
      });
      assert.equal(taskOf(core, 'size'), { id: 'size', run: 'echo size core >> runs.log', depends_on: ['build'] });
      assert.equal(core?.tasks?.map((t) => t['id']), ['typecheck', 'build', 'size']);
      for (const k of ['use', 'with', 'matrix']) assert.not.ok(k in core!, `${k} is spent by the expansion`);

      const built = await runUet(dir, ['build']);
      assert.is(built.code, 0, built.stdout + built.stderr);
      assert.equal(readText(dir, 'runs.log').split('\n').filter(Boolean).sort(), [
        'build core --incremental',
        'size core',
        'typecheck core strict=false',
      ]);
    },
  );
});

test('matrix: one workstream per combination, ids filled, depends_on between expanded workstreams and from others', async () => {
  await inProject(
    {
      'templates/ts.yaml': TS_TEMPLATE,
      'phases/p.yaml': USE(
        '  - id: core',
        '    use: ts-package',
        '    with: { pkg: core }',
        '  - id: "pkg-{{pkg}}-{{mode}}"',
        '    use: ts-package',
        '    matrix: { pkg: [cli, web], mode: [dev, prod] }',
        '    with: { strict: true }',
        '    depends_on: [core]',
        '    files_scope: { write: ["packages/{{pkg}}/{{mode}}/**"] }',
        '    tasks:',
        '      - { id: build, run: "echo build {{pkg}} {{mode}} >> runs.log" }',
        '  - id: app',
        '    depends_on: [pkg-web-prod]',
        '    tasks:',
        '      - { id: bundle, run: "echo bundle >> runs.log" }',
      ),
    },
    async (dir) => {
      const { byId } = await expand(dir);
      assert.equal([...byId.keys()], ['core', 'pkg-cli-dev', 'pkg-cli-prod', 'pkg-web-dev', 'pkg-web-prod', 'app']);
      assert.is(taskOf(byId.get('pkg-web-dev'), 'build')['run'], 'echo build web dev >> runs.log');
      assert.equal(byId.get('pkg-cli-prod')?.['files_scope'], { write: ['packages/cli/prod/**'] });

      const graph = await runUet(dir, ['graph', '--format', 'json']);
      const g = JSON.parse(graph.stdout) as { nodes: Array<{ id: string }>; edges: Array<{ from: string; to: string }> };
      const ids = g.nodes.map((n) => n.id);
      for (const ws of ['pkg-cli-dev', 'pkg-cli-prod', 'pkg-web-dev', 'pkg-web-prod']) {
        assert.ok(ids.includes(`p/${ws}/typecheck`) && ids.includes(`p/${ws}/build`), ws);
        assert.ok(g.edges.some((e) => e.from === 'p/core/build' && e.to === `p/${ws}/build`), `${ws} waits for core`);
      }
      assert.ok(g.edges.some((e) => e.from === 'p/pkg-web-prod/build' && e.to === 'p/app/bundle'));
      assert.not.ok(g.edges.some((e) => e.from === 'p/pkg-cli-dev/build' && e.to === 'p/app/bundle'));

      const built = await runUet(dir, ['build', '-j', '4']);
      assert.is(built.code, 0, built.stdout + built.stderr);
      const log = readText(dir, 'runs.log').split('\n').filter(Boolean);
      assert.is(log.length, 11);
      const at = (line: string): number => log.indexOf(line);
      for (const m of ['cli dev', 'cli prod', 'web dev', 'web prod']) assert.ok(at(`build ${m}`) > at('build core'), log.join('|'));
      assert.ok(at('bundle') > at('build web prod'), log.join('|'));
    },
  );
});

test('a matrix without use: fills the workstream\'s own strings', async () => {
  await inProject(
    {
      'phases/p.yaml': USE('  - id: "t-{{n}}"', '    matrix: { n: [1, 2, 3] }', '    tasks:', '      - { id: go, run: "echo {{n}} >> runs.log" }'),
    },
    async (dir) => {
      const { byId } = await expand(dir);
      assert.equal([...byId.keys()], ['t-1', 't-2', 't-3']);
      assert.equal(taskOf(byId.get('t-3'), 'go'), { id: 'go', run: 'echo 3 >> runs.log' });
    },
  );
});

test('a workstream file may use a template (its id the file name); the config\'s templates: globs say where templates are', async () => {
  await inProject(
    {
      'uet.config.yaml': L('version: 1', 'templates: ["ci/templates/*.yaml"]'),
      'ci/templates/ts.yaml': TS_TEMPLATE,
      'phases/p.yaml': L('id: p'),
      'phases/p/core.yaml': L('use: ts-package', 'with: { pkg: core }'),
    },
    async (dir) => {
      const { byId } = await expand(dir);
      assert.equal([...byId.keys()], ['core']);
      assert.is(taskOf(byId.get('core'), 'build')['run'], 'echo build core >> runs.log');
      const first = await runUet(dir, ['build', 'p/core/build']);
      assert.is(first.code, 0, first.stdout + first.stderr);
      // a template found through these globs is a spec file: editing it recompiles the cached graph
      writeText(dir, 'ci/templates/ts.yaml', TS_TEMPLATE.replace('echo build {{pkg}}', 'echo make {{pkg}}'));
      const second = await runUet(dir, ['build', 'p/core/build']);
      assert.is(second.code, 0, second.stdout + second.stderr);
      assert.is(readText(dir, 'runs.log'), 'build core\nmake core\n');
    },
  );
});

test('templates use templates: the outer body is merged over the inner, parameters passed through with:', async () => {
  await inProject(
    {
      'templates/ts.yaml': TS_TEMPLATE,
      'templates/tested.yaml': L(
        'id: tested-package',
        'params:',
        '  name: { type: string }',
        'body:',
        '  use: ts-package',
        '  with: { pkg: "{{name}}", extra_inputs: ["packages/{{name}}/package.json"] }',
        '  tasks:',
        '    - id: test',
        '      kind: runtime',
        '      run: "echo test {{name}} >> runs.log"',
        '      depends_on: [build]',
      ),
      'phases/p.yaml': USE('  - id: ui', '    use: tested-package', '    with: { name: ui }'),
    },
    async (dir) => {
      const { byId, out } = await expand(dir);
      assert.match(out.stdout, /from template tested-package/);
      const ui = byId.get('ui');
      assert.equal(ui?.tasks?.map((t) => t['id']), ['typecheck', 'build', 'test']);
      assert.equal(taskOf(ui, 'typecheck')['inputs'], ['packages/ui/src/**/*.ts', 'packages/ui/package.json']);
      assert.is(taskOf(ui, 'test')['run'], 'echo test ui >> runs.log');
      const built = await runUet(dir, ['build']);
      assert.is(built.code, 0, built.stdout + built.stderr);
      assert.is(countLines(dir, 'runs.log'), 3);
    },
  );
});

test('uet graph and uet explain show the expanded tasks', async () => {
  await inProject(
    {
      'templates/ts.yaml': TS_TEMPLATE,
      'phases/p.yaml': USE('  - id: "pkg-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli] }'),
    },
    async (dir) => {
      const dot = await runUet(dir, ['graph', '--format', 'mermaid']);
      assert.is(dot.code, 0, dot.stderr);
      assert.match(dot.stdout, /p\/pkg-cli\/typecheck/);
      assert.match(dot.stdout, /p\/pkg-cli\/build/);
      const before = await runUet(dir, ['explain', 'p/pkg-cli/build']);
      assert.is(before.code, 0, before.stderr);
      assert.match(before.stdout, /p\/pkg-cli\/build: would run/);
      await runUet(dir, ['build']);
      writeText(dir, 'packages/cli/src/a.ts', 'export {};\n');
      const after = await runUet(dir, ['explain', 'p/pkg-cli/build']);
      assert.match(after.stdout, /packages\/cli\/src\/a\.ts/);
    },
  );
});

// ------------------------------------------------------------------------------ cache and keys

const HAND_WRITTEN = USE(
  '  - id: cli',
  '    files_scope: { write: ["packages/cli/**"] }',
  '    tasks:',
  '      - id: typecheck',
  '        kind: static',
  '        run: "echo typecheck cli strict=true >> runs.log"',
  '        inputs: ["packages/cli/src/**/*.ts"]',
  '        retries: 0',
  '      - id: build',
  '        run: "echo build cli >> runs.log && mkdir -p packages/cli/dist && cp packages/cli/src/a.ts packages/cli/dist/a.js"',
  '        inputs: ["packages/cli/src/**/*.ts"]',
  '        outputs: ["packages/cli/dist/**"]',
  '  - id: web',
  '    files_scope: { write: ["packages/web/**"] }',
  '    tasks:',
  '      - id: typecheck',
  '        kind: static',
  '        run: "echo typecheck web strict=true >> runs.log"',
  '        inputs: ["packages/web/src/**/*.ts"]',
  '        retries: 0',
  '      - id: build',
  '        run: "echo build web >> runs.log && mkdir -p packages/web/dist && cp packages/web/src/a.ts packages/web/dist/a.js"',
  '        inputs: ["packages/web/src/**/*.ts"]',
  '        outputs: ["packages/web/dist/**"]',
);

test('keys depend only on expanded content: copied YAML refactored into a template, the next build runs nothing', async () => {
  await inProject(
    { 'phases/p.yaml': HAND_WRITTEN, 'packages/cli/src/a.ts': 'export const a = 1;\n', 'packages/web/src/a.ts': 'export const w = 1;\n' },
    async (dir) => {
      const first = await runUet(dir, ['build']);
      assert.is(first.code, 0, first.stdout + first.stderr);
      assert.is(countLines(dir, 'runs.log'), 4);

      writeText(dir, 'templates/ts.yaml', TS_TEMPLATE.replace('"echo build {{pkg}} >> runs.log"', '"echo build {{pkg}} >> runs.log && mkdir -p packages/{{pkg}}/dist && cp packages/{{pkg}}/src/a.ts packages/{{pkg}}/dist/a.js"'));
      writeText(dir, 'phases/p.yaml', USE('  - id: "{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli, web] }'));
      const check = await runUet(dir, ['validate']);
      assert.is(check.code, 0, check.stderr);
      const second = await runUet(dir, ['build']);
      assert.is(second.code, 0, second.stdout + second.stderr);
      assert.match(lastLine(second.stdout), /: 4 tasks — 4 fresh, 0 restored, 0 ran, 0 failed/);
      assert.is(countLines(dir, 'runs.log'), 4, 'nothing ran again');

      // and a change the template makes does reach the keys
      writeText(dir, 'phases/p.yaml', USE('  - id: "{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli, web] }', '    with: { strict: false }'));
      const third = await runUet(dir, ['build']);
      assert.match(lastLine(third.stdout), / 2 fresh, 0 restored, 2 ran, 0 failed/);
    },
  );
});

test('expansion is part of the compiled-graph cache: a no-op uses the cached expanded spec; a template edit expands again', async () => {
  await inProject(
    {
      'templates/ts.yaml': TS_TEMPLATE,
      'phases/p.yaml': USE('  - id: "pkg-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli] }'),
    },
    async (dir) => {
      const first = await runUet(dir, ['build']);
      assert.is(first.code, 0, first.stdout + first.stderr);
      const cachePath = path.join(dir, '.uet', 'graph.json');
      const cached = graphCacheJson(fs.readFileSync(cachePath))! as unknown as { spec: { phases: Array<{ workstreams: Array<{ id: string; tasks: string }> }> } };
      const ws = cached.spec.phases[0]!.workstreams[0]!;
      assert.is(ws.id, 'pkg-cli', 'the cache holds the expanded workstream');
      // Mark the cached (expanded) build command: if a no-op expanded the template again, the
      // marked command could not run. (A workstream's tasks are kept as JSON text.)
      const tasks = JSON.parse(ws.tasks) as Array<{ id: string; run: string }>;
      tasks.find((t) => t.id === 'build')!.run = 'echo from-the-cache >> runs.log';
      ws.tasks = JSON.stringify(tasks);
      fs.writeFileSync(cachePath, graphCacheText(cached as unknown as GraphCacheJson));
      // the full path (the no-op proof would answer without loading the graph at all)
      const noop = await runUet(dir, ['build'], { env: { UET_NO_FAST_PATH: '1' } });
      assert.is(noop.code, 0, noop.stdout + noop.stderr);
      assert.ok(readText(dir, 'runs.log').includes('from-the-cache'), 'the cached expansion was used');

      // the template is a spec file: editing it invalidates the cached graph
      writeText(dir, 'templates/ts.yaml', TS_TEMPLATE.replace('echo build {{pkg}}', 'echo build2 {{pkg}}'));
      const edited = await runUet(dir, ['build']);
      assert.is(edited.code, 0, edited.stdout + edited.stderr);
      assert.ok(readText(dir, 'runs.log').includes('build2 cli'), readText(dir, 'runs.log'));
    },
  );
});

// ------------------------------------------------------------------------------ built-ins

test('built-in node-package on examples/templates: builds, tests, then rebuilds nothing', async () => {
  await withProject({}, async (dir) => {
    fs.cpSync(path.join(REPO_ROOT, 'examples/templates'), dir, { recursive: true, filter: (src) => !/[/\\](\.uet|cache|dist)$/.test(src) && !src.endsWith('banner.txt') });
    const env = { PATH: `${path.join(REPO_ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env['PATH'] ?? ''}` };
    const { byId } = await expand(dir);
    assert.equal([...byId.keys()], ['banner', 'pkg-greet', 'pkg-shout']);
    assert.equal(byId.get('pkg-greet')?.tasks?.map((t) => t['id']), ['typecheck', 'lint', 'build', 'test']);
    assert.is(taskOf(byId.get('pkg-shout'), 'build')['cwd'], 'packages/shout');
    const first = await runUet(dir, ['build'], { env });
    assert.is(first.code, 0, first.stdout + first.stderr);
    assert.match(lastLine(first.stdout), /: 9 tasks — 0 fresh, 0 restored, 9 ran, 0 failed/);
    assert.is(readText(dir, 'banner.txt').trim(), 'HELLO, TEMPLATES!');
    assert.ok(fs.existsSync(path.join(dir, 'packages/greet/dist/index.js')));
    const second = await runUet(dir, ['build'], { env });
    assert.match(lastLine(second.stdout), / 9 fresh, 0 restored, 0 ran, 0 failed/);
    // a broken test fails the package's test task
    writeText(dir, 'packages/shout/test/shout.test.mjs', readText(dir, 'packages/shout/test/shout.test.mjs').replace("'HI!'", "'HI?'"));
    const failing = await runUet(dir, ['build'], { env });
    assert.is(failing.code, 1);
    assert.match(failing.stdout, /FAILED\s+packages\/pkg-shout\/test/);
  });
});

test('built-in patch-fix: edit, then static and runtime checks with the fix tool', async () => {
  await inProject(
    {
      'phases/p.yaml': USE(
        '  - id: parser',
        '    use: patch-fix',
        '    with: { patches: ["patches/*.diff"], write: ["lib/**"], static: "true", runtime: "true", fix: fixer, inputs: ["lib/**"] }',
      ),
    },
    async (dir) => {
      const { byId } = await expand(dir);
      const ws = byId.get('parser');
      assert.equal(ws?.['files_scope'], { write: ['lib/**'], create: ['lib/**'] });
      assert.equal(taskOf(ws, 'edit'), { id: 'edit', kind: 'edit', patches: ['patches/*.diff'] });
      assert.equal(taskOf(ws, 'static'), { id: 'static', kind: 'static', run: 'true', inputs: ['lib/**'], fix: 'fixer' });
      assert.equal(taskOf(ws, 'runtime'), { id: 'runtime', kind: 'runtime', run: 'true', inputs: ['lib/**'], retries: 0, fix: 'fixer' });
      const graph = JSON.parse((await runUet(dir, ['graph', '--format', 'json'])).stdout) as { edges: Array<{ from: string; to: string }> };
      assert.ok(graph.edges.some((e) => e.from === 'p/parser/edit' && e.to === 'p/parser/static'));
      assert.ok(graph.edges.some((e) => e.from === 'p/parser/static' && e.to === 'p/parser/runtime'));
    },
  );
});

test('a project template with the id of a built-in one wins, with a warning', async () => {
  await inProject(
    {
      'templates/mine.yaml': L('id: node-package', 'body:', '  tasks: [{ id: mine, run: "echo mine >> runs.log" }]'),
      'phases/p.yaml': USE('  - { id: a, use: node-package }'),
    },
    async (dir) => {
      const { byId, out } = await expand(dir);
      assert.match(out.stderr, /warning: templates\/mine\.yaml:1:5 W_TEMPLATE_SHADOWS_BUILTIN template 'node-package' replaces the built-in template/);
      assert.equal(byId.get('a')?.tasks, [{ id: 'mine', run: 'echo mine >> runs.log' }]);
    },
  );
});

// ------------------------------------------------------------------------------ errors

/** the spec fails with exit 2 (validate and build alike); the first line of `code`'s diagnostic holds every place */
async function expectError(files: Record<string, string>, code: string, places: readonly string[], message?: RegExp): Promise<void> {
  await inProject(files, async (dir) => {
    const v = await runUet(dir, ['validate']);
    assert.is(v.code, 2, v.stdout + v.stderr);
    const line = v.stderr.split('\n').find((l) => l.includes(` ${code} `));
    assert.ok(line, `no ${code} in:\n${v.stderr}`);
    assert.ok(line!.startsWith(places[0]!), `${line} starts with ${places[0]}`);
    for (const p of places) assert.ok(line!.includes(p), `${line}\n  names ${p}`);
    if (message) assert.match(line!, message);
    const b = await runUet(dir, ['build']);
    assert.is(b.code, 2);
    assert.not.ok(fs.existsSync(path.join(dir, 'runs.log')), 'a spec error builds nothing');
  });
}

test('E_TEMPLATE_PARAM_MISSING names the use site and the parameter\'s line', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: a', '    use: ts-package', '    with: { strict: true }') },
    'E_TEMPLATE_PARAM_MISSING',
    ['phases/p.yaml:4:10', 'templates/ts.yaml:4:3'],
    /without its required parameter 'pkg'/,
  );
});

test('E_TEMPLATE_PARAM_UNKNOWN names the with: key and the template, with a did-you-mean', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: a', '    use: ts-package', '    with: { pkg: a, strcit: true }') },
    'E_TEMPLATE_PARAM_UNKNOWN',
    ['phases/p.yaml:5:21', 'templates/ts.yaml:1:5'],
    /has no parameter 'strcit' \(did you mean 'strict'\?\)/,
  );
});

test('E_TEMPLATE_PARAM_UNKNOWN: a matrix key that is no parameter and fills nothing', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: "a-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [x], pgk: [y] }') },
    'E_TEMPLATE_PARAM_UNKNOWN',
    ['phases/p.yaml:5:25', 'templates/ts.yaml:1:5'],
    /matrix key 'pgk'/,
  );
});

test('E_TEMPLATE_PARAM_TYPE names the value and the parameter\'s declaration (with: and matrix values)', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: a', '    use: ts-package', '    with: { pkg: a, extra_inputs: x.txt }') },
    'E_TEMPLATE_PARAM_TYPE',
    ['phases/p.yaml:5:35', 'templates/ts.yaml:6:3'],
    /'extra_inputs' of template 'ts-package' must be a list, not 'x.txt'/,
  );
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: "a-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [x, 2] }') },
    'E_TEMPLATE_PARAM_TYPE',
    ['phases/p.yaml:5:24', 'templates/ts.yaml:4:3'],
    /must be a string, not 2/,
  );
});

test('E_TEMPLATE_PARAM_TYPE: a list parameter inside a string, at the template line and the use site', async () => {
  await expectError(
    {
      'templates/t.yaml': L('id: t', 'params:', '  files: { type: list }', 'body:', '  tasks:', '    - { id: lint, run: "eslint {{files}}" }'),
      'phases/p.yaml': USE('  - id: a', '    use: t', '    with: { files: [a.js] }'),
    },
    'E_TEMPLATE_PARAM_TYPE',
    ['templates/t.yaml:6:24', 'phases/p.yaml:3:5'],
    /list parameter 'files' is used inside a string/,
  );
});

test('E_UNKNOWN_TEMPLATE says did you mean, and where that template is', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: a', '    use: ts-pakage', '    with: { pkg: a }') },
    'E_UNKNOWN_TEMPLATE',
    ['phases/p.yaml:4:10', 'templates/ts.yaml:1:5'],
    /'ts-pakage', which does not exist \(did you mean 'ts-package'/,
  );
});

test('E_TEMPLATE_UNDEFINED: a {{name}} no parameter defines, in a template (template line + use site) and at a use site', async () => {
  await expectError(
    {
      'templates/t.yaml': L('id: t', 'params:', '  pkg: { type: string }', 'body:', '  tasks:', '    - { id: b, run: "make {{pgk}}" }'),
      'phases/p.yaml': USE('  - id: a', '    use: t', '    with: { pkg: x }'),
    },
    'E_TEMPLATE_UNDEFINED',
    ['templates/t.yaml:6:21', 'phases/p.yaml:3:5'],
    /uses \{\{pgk\}\}, which no parameter defines \(did you mean 'pkg'\?\)/,
  );
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: a', '    use: ts-package', '    with: { pkg: x }', '    tasks: [{ id: build, run: "make {{pkgs}}" }]') },
    'E_TEMPLATE_UNDEFINED',
    ['phases/p.yaml:6:31', 'templates/ts.yaml:1:5'],
  );
});

test('E_MATRIX_DUPLICATE: a matrix that makes one id twice names the id and the matrix', async () => {
  await expectError(
    { 'templates/ts.yaml': TS_TEMPLATE, 'phases/p.yaml': USE('  - id: "pkg-{{pkg}}"', '    use: ts-package', '    matrix: { pkg: [cli, web], retries: [0, 1] }') },
    'E_MATRIX_DUPLICATE',
    ['phases/p.yaml:3:9', 'phases/p.yaml:5:13'],
    /makes workstream 'pkg-cli' twice: for pkg=cli, retries=0 and for pkg=cli, retries=1/,
  );
});

test('E_TEMPLATE_RECURSION: the closing use: line and the use site', async () => {
  await expectError(
    {
      'templates/a.yaml': L('id: a', 'body:', '  use: b'),
      'templates/b.yaml': L('id: b', 'body:', '  use: a', '  tasks: [{ id: t, run: "true" }]'),
      'phases/p.yaml': USE('  - id: w', '    use: a'),
    },
    'E_TEMPLATE_RECURSION',
    ['templates/b.yaml:3:8', 'phases/p.yaml:3:5'],
    /a → b → a/,
  );
});

test('E_TEMPLATE_UNDEFINED in a template no workstream uses yet', async () => {
  await expectError(
    {
      'templates/t.yaml': L('id: t', 'params:', '  pkg: { type: string }', 'body:', '  tasks:', '    - { id: b, run: "make {{pkg}} {{pgk}}" }'),
      'phases/p.yaml': USE('  - { id: a, tasks: [{ id: t, run: x }] }'),
    },
    'E_TEMPLATE_UNDEFINED',
    ['templates/t.yaml:6:21'],
    /template 't' \(used by no workstream yet\) uses \{\{pgk\}\}, which no parameter defines \(did you mean 'pkg'\?\)/,
  );
});

test('an error in an expanded task points at the template line and names the use site', async () => {
  await expectError(
    {
      'templates/t.yaml': L('id: t', 'body:', '  tasks:', '    - { id: b, run: "true", depends_on: [bild] }'),
      'phases/p.yaml': USE('  - id: a', '    use: t'),
    },
    'E_UNKNOWN_DEP',
    ['templates/t.yaml:4:42', 'phases/p.yaml:3:5'],
  );
  await expectError(
    {
      'templates/t.yaml': L('id: t', 'body:', '  tasks:', '    - { id: b, run: "true", inptus: [a] }'),
      'phases/p.yaml': USE('  - id: a', '    use: t'),
    },
    'E_SCHEMA',
    ['templates/t.yaml:4:29', 'phases/p.yaml:3:5'],
    /did you mean 'inputs'/,
  );
});

test('a template file is checked against its schema', async () => {
  await expectError(
    { 'templates/t.yaml': L('id: t', 'params:', '  n: { type: number, default: many }', 'body: {}'), 'phases/p.yaml': USE('  - { id: a, tasks: [{ id: t, run: x }] }') },
    'E_SCHEMA',
    ['templates/t.yaml:3:31'],
  );
});

test.run();
