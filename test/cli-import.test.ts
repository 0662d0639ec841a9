/**
 * `uet import`: workstream bundles of the original system -> workstream YAML that `uet validate`
 * accepts, with what cannot be mapped kept as comments.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readText, REPO_ROOT, runUet, withProject } from './helpers/project.js';

/** The original system's bundles (not redistributable, so read in place, not copied into the repo). */
const CORPUS = path.resolve(REPO_ROOT, '..', 'shared', 'corpus', 'seed-examples');

const BUNDLES = {
  'a.json': JSON.stringify({
    id: 'ws-a',
    title: 'Schema first',
    files_scope: ['db/schema.sql'],
    files_create: ['db/schema.sql', 'db/seed.sql'],
    tasks: ['Write the schema'],
    acceptance_tests: ['pytest -q tests/test_schema.py', 'The schema is nice'],
    depends_on: [],
    tool: 'aider',
    circuit_breaker: { max_attempts: 3, max_error_repeats: 2, oscillation_threshold: 2 },
    metadata: { owner: 'x' },
  }),
  'list.json': JSON.stringify([
    { id: 'ws-b', files_scope: ['db/schema.sql'], tasks: ['Touch the schema too'], depends_on: ['ws-missing'] },
    { id: 'ws-c', files_scope: ['src/c.py'], depends_on: ['ws-a', 'ws-b'] },
  ]),
};

test('import bundles: workstreams that validate, unmapped items as comments, shared files in a conflict group', async () => {
  await withProject({ 'uet.config.yaml': 'version: 1\n', ...Object.fromEntries(Object.entries(BUNDLES).map(([k, v]) => [`in/${k}`, v])) }, async (dir) => {
    const r = await runUet(dir, ['import', 'in/a.json', 'in/list.json']);
    assert.is(r.code, 0, r.stderr);
    const a = readText(dir, 'phases/imported/ws-a.yaml');
    assert.match(a, '#   acceptance tests (prose, not a command): The schema is nice');
    assert.match(a, '#   task (prose: work for the tool, not a command): Write the schema');
    assert.match(a, '#   tool: aider');
    assert.match(a, '#   circuit_breaker.max_error_repeats: 2');
    assert.match(a, 'run: pytest -q tests/test_schema.py');
    assert.match(a, 'conflict_group: imported-shared-files');
    assert.match(readText(dir, 'phases/imported/ws-b.yaml'), "depends_on 'ws-missing': not among the imported bundles");
    const v = await runUet(dir, ['validate']);
    assert.is(v.code, 0, v.stdout + v.stderr);
    // a second import does not overwrite without --force
    const again = await runUet(dir, ['import', 'in/a.json']);
    assert.is(again.code, 2);
    assert.match(again.stderr, 'exists already');
  });
});

test('import every ws-*.json of the original system, then uet validate accepts the result', async () => {
  if (!fs.existsSync(CORPUS)) {
    console.warn(`skipped: ${CORPUS} not present`);
    return;
  }
  const files = fs.readdirSync(CORPUS).filter((f) => /^ws-.*\.json$/.test(f));
  assert.ok(files.length >= 5);
  await withProject({ 'uet.config.yaml': 'version: 1\n' }, async (dir) => {
    const r = await runUet(dir, ['import', '--phase', 'PH-01', ...files.map((f) => path.join(CORPUS, f))]);
    assert.is(r.code, 0, r.stderr);
    for (const f of files) assert.ok(fs.existsSync(path.join(dir, 'phases/PH-01', f.replace(/\.json$/, '.yaml'))), f);
    const v = await runUet(dir, ['validate']);
    assert.is(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, `${files.length} workstreams`);
    // nothing silently dropped: every prose acceptance test is in a comment
    for (const f of files) {
      const bundle = JSON.parse(fs.readFileSync(path.join(CORPUS, f), 'utf8')) as { acceptance_tests?: unknown[] };
      const yaml = readText(dir, `phases/PH-01/${f.replace(/\.json$/, '.yaml')}`);
      for (const t of bundle.acceptance_tests ?? []) {
        const text = typeof t === 'string' ? t : (t as { command: string }).command;
        assert.ok(yaml.includes(text), `${f}: ${text}`);
      }
    }
  });
});

test.run();
