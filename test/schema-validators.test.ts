/**
 * The spec's validators as `npm run build` compiles them in advance (scripts/bundle.mjs:
 * dist/bundle/schema-validators.cjs) against ajv compiling the schemas at run time: the same
 * diagnostics for every malformed input of the corpus, and the precompiled ones used only when
 * they were compiled from the schemas as they are.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDiagnostic } from '../lib/spec/diagnostic.js';
import { loadProject } from '../lib/spec/load.js';
import { checkSchema, precompiledPath, precompiledValidators, resetChecker, schemaTexts, schemasDigest, validatorSource } from '../lib/spec/schema-check.js';

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'bad');
const BUILT = precompiledPath();

/** a .case file's files (see test/cli-bad-inputs.test.ts), in a fresh folder */
function caseProject(file: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'uet-validators-')));
  const [, ...rest] = fs.readFileSync(path.join(CORPUS, file), 'latin1').split('\n');
  let current: string | undefined;
  for (const line of rest.join('\n').split(/(?<=\n)/)) {
    if (line.startsWith('=== ')) {
      current = path.join(dir, line.slice(4).trim());
      fs.mkdirSync(path.dirname(current), { recursive: true });
      fs.writeFileSync(current, '');
    } else if (current !== undefined) {
      fs.appendFileSync(current, line, 'latin1');
    }
  }
  return dir;
}

async function diagnostics(dir: string): Promise<string[]> {
  const r = await loadProject(dir);
  return r.ok ? r.value.warnings.map(formatDiagnostic) : r.error.map(formatDiagnostic);
}

test('the build compiled the validators from the schemas as they are, and the checks use them', () => {
  assert.ok(fs.existsSync(BUILT), `${BUILT} (npm run build writes it)`);
  resetChecker();
  checkSchema('config', { data: { version: 1, project: 'p' } } as Parameters<typeof checkSchema>[1]);
  assert.is(validatorSource(), 'precompiled');
});

test('validators compiled from other schemas, or missing, are not used: ajv compiles the schemas then', () => {
  const digest = schemasDigest(schemaTexts());
  assert.ok(precompiledValidators(digest, BUILT));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-validators-'));
  try {
    const stale = path.join(dir, 'stale.cjs');
    fs.writeFileSync(stale, fs.readFileSync(BUILT, 'utf8').replace(/exports\.digest = "[0-9a-f]+";/, 'exports.digest = "0000";'));
    assert.is(precompiledValidators(digest, stale), undefined);
    assert.is(precompiledValidators(digest, path.join(dir, 'missing.cjs')), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  resetChecker({ precompiled: false });
  checkSchema('config', { data: { version: 1, project: 'p' } } as Parameters<typeof checkSchema>[1]);
  assert.is(validatorSource(), 'compiled');
  resetChecker();
});

test('precompiled and ajv-compiled validators give the same diagnostics for every malformed input of the corpus', async () => {
  const cases = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.case')).sort();
  assert.ok(cases.length >= 50);
  let schemaErrors = 0;
  for (const file of cases) {
    const dir = caseProject(file);
    try {
      resetChecker();
      const precompiled = await diagnostics(dir);
      assert.is(validatorSource() ?? 'precompiled', 'precompiled', file);
      resetChecker({ precompiled: false });
      const compiled = await diagnostics(dir);
      assert.equal(precompiled, compiled, file);
      if (compiled.some((d) => d.includes('E_SCHEMA'))) schemaErrors++;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      resetChecker();
    }
  }
  assert.ok(schemaErrors >= 10, `the corpus exercises the schemas (${schemaErrors} cases with E_SCHEMA)`);
});

test.run();
