/**
 * Unit tests of the pure and near-pure parts of the patch pipeline: the ledger's state table,
 * policy layering, and validation of scope and limits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransitionEvent } from '../lib/patch/ledger.js';
import { IllegalTransition, Ledger, PATCH_STATES, TRANSITIONS } from '../lib/patch/ledger.js';
import { configPolicy, effectivePolicy, policyWeakenings } from '../lib/patch/policy.js';
import type { PathProbe } from '../lib/patch/validate.js';
import { validatePatch } from '../lib/patch/validate.js';

const NEW = { hash: 'h1', text: '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n', source: 'p/1.diff', origin: 'file', task: 'p/ws/t', workstream: 'p/ws', summary: 's', files: ['x'], lines_changed: 2 } as const;

test('ledger: the happy path, one event per transition, history append-only and persisted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-ledger-'));
  try {
    const events: TransitionEvent[] = [];
    const ledger = await Ledger.open(dir, (e) => events.push(e));
    const e = await ledger.admit(NEW, 'run1');
    assert.is((await ledger.admit(NEW, 'run2')).patch_id, e.patch_id, 'one entry per content');
    for (const s of ['validated', 'queued', 'applied', 'verified', 'committed'] as const) await ledger.transition(e, s, `to ${s}`, 'run1');
    assert.equal(
      events.map((x) => `${x.from}->${x.to}`),
      ['null->created', 'created->validated', 'validated->queued', 'queued->applied', 'applied->verified', 'verified->committed'],
    );
    const again = await Ledger.open(dir);
    const stored = again.find(e.patch_id);
    assert.ok(stored !== undefined && stored !== 'ambiguous');
    if (typeof stored === 'object') {
      assert.is(stored.state, 'committed');
      assert.equal(
        stored.history.map((h) => h.state),
        ['created', 'validated', 'queued', 'applied', 'verified', 'committed'],
      );
      assert.is(await again.patchText(stored), NEW.text);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ledger: an illegal transition throws and changes nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-ledger-'));
  try {
    const ledger = await Ledger.open(dir);
    const e = await ledger.admit(NEW, 'run1');
    let thrown: unknown;
    try {
      await ledger.transition(e, 'committed', 'skipping ahead', 'run1');
    } catch (x) {
      thrown = x;
    }
    assert.ok(thrown instanceof IllegalTransition);
    assert.is(e.state, 'created');
    assert.is(e.history.length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ledger: the table names only known states, and every state but committed/dropped can be left for quarantine or drop', () => {
  for (const [from, tos] of Object.entries(TRANSITIONS)) {
    assert.ok(PATCH_STATES.includes(from as never));
    for (const to of tos) assert.ok(PATCH_STATES.includes(to), `${from} -> ${to}`);
  }
  assert.not.ok(TRANSITIONS.created.includes('applied'), 'nothing is applied unvalidated');
  assert.ok(TRANSITIONS.quarantined.includes('queued') && TRANSITIONS.dropped.includes('queued'), 'requeue');
});

test('policy: layered config -> phase -> workstream, tighten-only', () => {
  const cfg = configPolicy({ max_lines_changed: 300, forbid_paths: ['**/*.lock'] });
  assert.is(cfg.forbidBinary, true);
  assert.ok(cfg.forbidPaths.includes('.git/**') && cfg.forbidPaths.includes('**/*.lock'));
  const eff = effectivePolicy({ max_lines_changed: 300 }, { max_lines_changed: 200, max_files_changed: 5 }, { max_files_changed: 3, forbid_paths: ['x/**'] });
  assert.is(eff.maxLinesChanged, 200);
  assert.is(eff.maxFilesChanged, 3);
  assert.ok(eff.forbidPaths.includes('x/**'));
  assert.equal(
    policyWeakenings(cfg, { max_lines_changed: 301, forbid_binary: false, oscillation: { threshold: 3, window: 2 } }, 'config').map((w) => w.key.join('.')),
    ['max_lines_changed', 'forbid_binary', 'oscillation.threshold', 'oscillation.window'],
  );
  assert.equal(policyWeakenings(cfg, { max_lines_changed: 10, forbid_binary: true, oscillation: { threshold: 1, window: 8 } }, 'config'), []);
});

const probe = (links: Record<string, boolean> = {}): PathProbe => ({ symlinkEscape: async (rel) => Object.keys(links).find((l) => rel.startsWith(`${l}/`)) });
const scope = { read: [], write: ['lib/**'], create: ['lib/new/**'], forbidden: ['lib/vendor/**'] };
const policy = effectivePolicy({}, {}, {});

test('validation: write for changed files, create for new ones and rename targets, never forbidden, symlinks checked', async () => {
  const v = async (diff: string, links?: Record<string, boolean>): Promise<string> => {
    const r = await validatePatch(diff, { scope, policy, probe: probe(links) });
    return r.ok ? 'ok' : r.error.code;
  };
  assert.is(await v('--- a/lib/a.ts\n+++ b/lib/a.ts\n@@ -1 +1 @@\n-a\n+b\n'), 'ok');
  assert.is(await v('--- /dev/null\n+++ b/lib/new/c.ts\n@@ -0,0 +1 @@\n+c\n'), 'ok');
  assert.is(await v('--- /dev/null\n+++ b/lib/c.ts\n@@ -0,0 +1 @@\n+c\n'), 'E_PATCH_SCOPE', 'lib/c.ts is writable but not creatable');
  assert.is(await v('diff --git a/lib/a.ts b/lib/b.ts\nrename from lib/a.ts\nrename to lib/b.ts\n'), 'E_PATCH_SCOPE', 'a rename creates its target');
  assert.is(await v('--- a/lib/vendor/v.ts\n+++ b/lib/vendor/v.ts\n@@ -1 +1 @@\n-a\n+b\n'), 'E_PATCH_SCOPE');
  assert.is(await v('--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n'), 'E_PATCH_SCOPE');
  assert.is(await v('--- a/lib/out/a.ts\n+++ b/lib/out/a.ts\n@@ -1 +1 @@\n-a\n+b\n', { 'lib/out': true }), 'E_PATCH_PATH');
  const tight = effectivePolicy({ max_files_changed: 1, max_lines_changed: 2 }, {}, {});
  const two = '--- a/lib/a.ts\n+++ b/lib/a.ts\n@@ -1 +1 @@\n-a\n+b\n--- a/lib/b.ts\n+++ b/lib/b.ts\n@@ -1 +1 @@\n-a\n+b\n';
  const r = await validatePatch(two, { scope, policy: tight, probe: probe() });
  assert.is(r.ok ? 'ok' : r.error.code, 'E_PATCH_POLICY');
});

test.run();
