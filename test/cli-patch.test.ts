/**
 * The patch pipeline through the real CLI on real temporary git projects: edit tasks applied
 * incrementally, refused patches quarantined with the tree untouched, verify and commit, the
 * FIX loop with a deterministic fixer, and the ledger commands.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exists, git, gitInit, makeProject, readText, removeProject, runUet, snapshotTree, writeText } from './helpers/project.js';

const CONFIG = 'version: 1\nproject: t\n';

/** One phase, one workstream `ws` with an edit task `apply` (patches/*.diff) and a static `check`. */
function phase(opts: { wsExtra?: string; phaseExtra?: string; check?: string } = {}): string {
  return `id: p
files_scope:
  write: ["lib/**"]
  create: ["lib/**"]
  forbidden: ["lib/secret/**"]
${opts.phaseExtra ?? ''}workstreams:
  - id: ws
${opts.wsExtra ?? ''}    tasks:
      - id: apply
        kind: edit
        patches: ["patches/*.diff"]
      - id: check
        kind: static
        run: ${opts.check ?? 'cat lib/a.txt >> seen.log'}
        inputs: ["lib/**"]
`;
}

function project(files: Record<string, string>, phaseYaml = phase()): string {
  const dir = makeProject({ 'uet.config.yaml': CONFIG, 'phases/p.yaml': phaseYaml, 'lib/a.txt': 'one\ntwo\nthree\n', 'lib/b.txt': 'bee\n', 'lib/secret/k.txt': 'key\n', ...files });
  gitInit(dir);
  return dir;
}

/** Every file of the project but uet's state, git's and the side-effect log: what a patch may change. */
const snapshot = (dir: string): Record<string, string> => snapshotTree(dir, ['.uet', '.git', 'cache', 'seen.log']);

interface Entry {
  patch_id: string;
  state: string;
  history: Array<{ state: string; run_id: string | null; reason: string; at: string }>;
  quarantine?: string;
  files: string[];
}

async function ledger(dir: string, ...args: string[]): Promise<Entry[]> {
  const r = await runUet(dir, ['ledger', '--json', ...args]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Entry);
}

const UPPER_TWO = 'Subject: Shout two\n\ndiff --git a/lib/a.txt b/lib/a.txt\n--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n';
const UPPER_BOTH = '--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1,3 +1,3 @@\n-one\n-two\n+ONE\n+TWO\n three\n';

test('apply, fresh on re-run, reverse + apply when the patch changes, drift when a patched file is edited by hand', async () => {
  const dir = project({ 'patches/001.diff': UPPER_TWO });
  try {
    let r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'lib/a.txt'), 'one\nTWO\nthree\n');
    assert.is(readText(dir, 'seen.log'), 'one\nTWO\nthree\n', 'the static task saw the patched file');
    let entries = await ledger(dir);
    assert.is(entries.length, 1);
    assert.is(entries[0]!.state, 'verified');
    assert.equal(
      entries[0]!.history.map((h) => h.state),
      ['created', 'validated', 'queued', 'applied', 'verified'],
    );
    assert.ok(entries[0]!.history.every((h) => typeof h.run_id === 'string' && h.at.length > 0 && h.reason.length > 0));
    // every transition is a run event
    const events = (await runUet(dir, ['runs', 'last', '--json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; to?: string });
    assert.equal(
      events.filter((e) => e.type === 'patch').map((e) => e.to),
      ['created', 'validated', 'queued', 'applied', 'verified'],
    );

    r = await runUet(dir, ['build', '--verbose']);
    assert.is(r.code, 0);
    assert.match(r.stdout, '2 fresh');
    assert.is(readText(dir, 'seen.log'), 'one\nTWO\nthree\n', 'nothing ran again');

    writeText(dir, 'patches/001.diff', UPPER_BOTH);
    r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    assert.is(readText(dir, 'lib/a.txt'), 'ONE\nTWO\nthree\n', 'the old patch was reversed, the new one applied to the original');
    entries = await ledger(dir);
    assert.equal(
      entries.map((e) => e.state),
      ['rolled_back', 'verified'],
    );

    writeText(dir, 'lib/a.txt', 'ONE\nTWO\nthree\nhand edit\n');
    writeText(dir, 'patches/001.diff', UPPER_TWO);
    const before = snapshot(dir);
    r = await runUet(dir, ['build']);
    assert.is(r.code, 1);
    assert.match(r.stdout, 'E_PATCH_DRIFT lib/a.txt');
    assert.equal(snapshot(dir), before, 'drift writes nothing');

    // put the file back as the patches left it: the changed patch applies again
    writeText(dir, 'lib/a.txt', 'ONE\nTWO\nthree\n');
    r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    assert.is(readText(dir, 'lib/a.txt'), 'one\nTWO\nthree\n');
    const shown = await runUet(dir, ['ledger', 'show', entries[1]!.patch_id]);
    assert.match(shown.stdout, 'rolled_back');
    assert.match(shown.stdout, '+ONE');
  } finally {
    removeProject(dir);
  }
});

test('--dry-run says an edit task would apply, and writes nothing: no file, no ledger entry', async () => {
  const dir = project({ 'patches/001.diff': UPPER_TWO });
  try {
    const before = snapshot(dir);
    const r = await runUet(dir, ['build', '--dry-run']);
    assert.is(r.code, 0, r.stdout);
    assert.match(r.stdout, 'would apply 1 patch');
    assert.equal(snapshot(dir), before);
    assert.not.ok(exists(dir, '.uet/ledger'));
    assert.equal(await ledger(dir), []);
  } finally {
    removeProject(dir);
  }
});

test('downstream tasks see patched files: a patch change re-runs them, an unchanged patch does not', async () => {
  const dir = project({ 'patches/001.diff': UPPER_TWO });
  try {
    assert.is((await runUet(dir, ['build'])).code, 0);
    assert.is(readText(dir, 'seen.log').split('\n').filter(Boolean).length, 3);
    writeText(dir, 'patches/001.diff', UPPER_BOTH);
    assert.is((await runUet(dir, ['build'])).code, 0);
    assert.is(readText(dir, 'seen.log'), 'one\nTWO\nthree\nONE\nTWO\nthree\n');
  } finally {
    removeProject(dir);
  }
});

test('create and delete files, several files in one patch, all in one task', async () => {
  const dir = project({
    'patches/001.diff':
      'diff --git a/lib/new/c.txt b/lib/new/c.txt\nnew file mode 100644\n--- /dev/null\n+++ b/lib/new/c.txt\n@@ -0,0 +1 @@\n+sea\n' +
      'diff --git a/lib/b.txt b/lib/b.txt\ndeleted file mode 100644\n--- a/lib/b.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bee\n',
    'patches/002.diff': '--- a/lib/new/c.txt\n+++ b/lib/new/c.txt\n@@ -1 +1 @@\n-sea\n+SEA\n\\ No newline at end of file\n',
  });
  try {
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    assert.is(readText(dir, 'lib/new/c.txt'), 'SEA');
    assert.not.ok(exists(dir, 'lib/b.txt'));
    // removing a patch file reverses it
    fs.rmSync(path.join(dir, 'patches/002.diff'));
    assert.is((await runUet(dir, ['build'])).code, 0);
    assert.is(readText(dir, 'lib/new/c.txt'), 'sea\n');
    fs.rmSync(path.join(dir, 'patches/001.diff'));
    writeText(dir, 'patches/000.diff', UPPER_TWO);
    assert.is((await runUet(dir, ['build'])).code, 0);
    assert.is(readText(dir, 'lib/b.txt'), 'bee\n');
    assert.not.ok(exists(dir, 'lib/new/c.txt'));
  } finally {
    removeProject(dir);
  }
});

const REFUSALS: Array<{ name: string; diff: string; code: string; setup?: (dir: string) => void; wsExtra?: string }> = [
  { name: '../ path', diff: '--- a/../outside.txt\n+++ b/../outside.txt\n@@ -1 +1 @@\n-a\n+b\n', code: 'E_PATCH_PATH' },
  { name: 'absolute path', diff: '--- /dev/null\n+++ /tmp/uet-abs.txt\n@@ -0,0 +1 @@\n+x\n', code: 'E_PATCH_PATH' },
  {
    name: 'path through a symlink leaving the root',
    diff: '--- /dev/null\n+++ b/lib/link/evil.txt\n@@ -0,0 +1 @@\n+evil\n',
    code: 'E_PATCH_PATH',
    setup: (dir) => {
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-outside-'));
      fs.symlinkSync(outside, path.join(dir, 'lib/link'));
    },
  },
  { name: 'forbidden path', diff: '--- a/lib/secret/k.txt\n+++ b/lib/secret/k.txt\n@@ -1 +1 @@\n-key\n+stolen\n', code: 'E_PATCH_SCOPE' },
  { name: 'path outside files_scope', diff: '--- a/uet.config.yaml\n+++ b/uet.config.yaml\n@@ -1,2 +1,2 @@\n version: 1\n-project: t\n+project: x\n', code: 'E_PATCH_SCOPE' },
  {
    name: 'too many files',
    diff: '--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1 +1 @@\n-one\n+1\n--- a/lib/b.txt\n+++ b/lib/b.txt\n@@ -1 +1 @@\n-bee\n+b\n',
    code: 'E_PATCH_POLICY',
    wsExtra: '    patch_policy: { max_files_changed: 1 }\n',
  },
  { name: 'too many lines', diff: UPPER_BOTH, code: 'E_PATCH_POLICY', wsExtra: '    patch_policy: { max_lines_changed: 3 }\n' },
  { name: 'binary hunk', diff: 'diff --git a/lib/img.png b/lib/img.png\nindex 1111111..2222222 100644\nBinary files a/lib/img.png and b/lib/img.png differ\n', code: 'E_PATCH_BINARY' },
  { name: 'malformed hunk', diff: '--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1,3 +1,3 @@\n-one\n+ONE\n', code: 'E_PATCH_FORMAT' },
  {
    name: 'hunk that does not apply (second file): no partial write',
    diff: '--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1 +1 @@\n-one\n+ONE\n--- a/lib/b.txt\n+++ b/lib/b.txt\n@@ -1 +1 @@\n-not bee\n+B\n',
    code: 'E_PATCH_APPLY',
  },
];

for (const c of REFUSALS) {
  test(`refused and quarantined, tree byte-identical: ${c.name}`, async () => {
    const dir = project({ 'patches/001.diff': c.diff }, phase(c.wsExtra !== undefined ? { wsExtra: c.wsExtra } : {}));
    try {
      c.setup?.(dir);
      const before = snapshot(dir);
      const r = await runUet(dir, ['build']);
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, c.code);
      assert.match(r.stdout, 'quarantined: .uet/quarantine/');
      assert.equal(snapshot(dir), before);
      const [e] = await ledger(dir, '--state', 'quarantined');
      assert.ok(e, 'a quarantined ledger entry');
      const reason = JSON.parse(readText(dir, `.uet/quarantine/${e!.patch_id}/reason.json`)) as { code: string; message: string };
      assert.is(reason.code, c.code);
      assert.is(readText(dir, `.uet/quarantine/${e!.patch_id}/patch.diff`), c.diff);
      // a second build does not try again: the patch stays quarantined until requeued
      const again = await runUet(dir, ['build']);
      assert.is(again.code, 1);
      assert.match(again.stdout, `uet ledger requeue ${e!.patch_id}`);
    } finally {
      removeProject(dir);
    }
  });
}

test('drop skips a patch, requeue brings a quarantined one back once it can apply', async () => {
  const dir = project({ 'patches/001.diff': '--- a/lib/b.txt\n+++ b/lib/b.txt\n@@ -1 +1 @@\n-bea\n+BEE\n' });
  try {
    assert.is((await runUet(dir, ['build'])).code, 1);
    const [e] = await ledger(dir);
    assert.is(e!.state, 'quarantined');
    writeText(dir, 'lib/b.txt', 'bea\n');
    let r = await runUet(dir, ['ledger', 'requeue', e!.patch_id.slice(0, 20)]);
    assert.is(r.code, 0, r.stderr);
    r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    assert.is(readText(dir, 'lib/b.txt'), 'BEE\n');
    const [after] = await ledger(dir);
    assert.is(after!.state, 'verified');
    assert.is(after!.history.find((h) => h.state === 'queued' && h.run_id === null)?.reason.includes('requeue'), true);
    // an applied patch cannot be dropped: that is a usage error
    r = await runUet(dir, ['ledger', 'drop', e!.patch_id]);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'verified');
    // a dropped patch is skipped by builds
    writeText(dir, 'patches/002.diff', '--- a/lib/a.txt\n+++ b/lib/a.txt\n@@ -1 +1 @@\n-uno\n+one\n');
    assert.is((await runUet(dir, ['build'])).code, 1);
    const bad = (await ledger(dir, '--state', 'quarantined'))[0]!;
    r = await runUet(dir, ['ledger', 'drop', bad.patch_id]);
    assert.is(r.code, 0, r.stderr);
    r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    assert.is(readText(dir, 'lib/a.txt'), 'one\ntwo\nthree\n');
    assert.equal((await ledger(dir, '--state', 'dropped')).length, 1);
  } finally {
    removeProject(dir);
  }
});

test('commit: true commits exactly the patched files, message uet: <summary> [<patch_id>]; never into a dirty index', async () => {
  const dir = project({ 'patches/001.diff': UPPER_TWO }, phase({ wsExtra: '    commit: true\n' }));
  try {
    writeText(dir, 'lib/b.txt', 'user edit, not staged\n');
    writeText(dir, 'notes.txt', 'untracked\n');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout);
    const [e] = await ledger(dir);
    assert.is(e!.state, 'committed');
    assert.is(git(dir, 'log', '-1', '--format=%s'), `uet: Shout two [${e!.patch_id}]`);
    assert.is(git(dir, 'show', '--name-only', '--format=', 'HEAD'), 'lib/a.txt');
    assert.match(git(dir, 'status', '--porcelain'), ' M lib/b.txt');

    // a staged change of the user's: uet does not commit
    git(dir, 'add', 'lib/b.txt');
    const head = git(dir, 'rev-parse', 'HEAD');
    writeText(dir, 'patches/001.diff', UPPER_BOTH);
    const r2 = await runUet(dir, ['build']);
    assert.is(r2.code, 0, r2.stdout);
    assert.match(r2.stdout, 'not committed');
    assert.is(git(dir, 'rev-parse', 'HEAD'), head);
    assert.equal(
      (await ledger(dir)).map((x) => x.state),
      ['rolled_back', 'verified'],
    );
  } finally {
    removeProject(dir);
  }
});

test('a patch_policy looser than the level above is E_POLICY_WEAKENED at its line', async () => {
  const dir = project({ 'uet.config.yaml': `${CONFIG}patch_policy: { max_lines_changed: 100 }\n` }, phase({ wsExtra: '    patch_policy:\n      max_lines_changed: 500\n' }));
  try {
    const r = await runUet(dir, ['validate']);
    assert.is(r.code, 2);
    assert.match(r.stderr + r.stdout, /phases\/p\.yaml:\d+:\d+ E_POLICY_WEAKENED patch_policy max_lines_changed: 500 loosens/);
  } finally {
    removeProject(dir);
  }
});

/** check.mjs wants lib/v.txt to say `c`; the fixer moves the letter one step (advance) or back and forth (oscillate). */
const CHECK = `import fs from 'node:fs';
const v = fs.readFileSync('lib/v.txt', 'utf8').trim();
if (v !== 'c') { console.log('got ' + v + ', want c'); process.exit(1); }
`;
const FIXER = `import fs from 'node:fs';
const [log, mode] = process.argv.slice(2);
const got = /got (\\w)/.exec(fs.readFileSync(log, 'utf8'))[1];
const next = mode === 'advance' ? String.fromCharCode(got.charCodeAt(0) + 1) : got === 'a' ? 'b' : 'a';
if (mode === 'escape' && got === 'b') process.stdout.write('--- a/check.mjs\\n+++ b/check.mjs\\n@@ -1 +1 @@\\n-import fs from \\'node:fs\\';\\n+process.exit(0);\\n');
else process.stdout.write('Subject: ' + got + ' to ' + next + '\\n--- a/lib/v.txt\\n+++ b/lib/v.txt\\n@@ -1 +1 @@\\n-' + got + '\\n+' + next + '\\n');
`;

function fixProject(mode: 'advance' | 'oscillate' | 'escape', wsExtra = ''): string {
  return project(
    {
      'uet.config.yaml': `${CONFIG}tools:\n  fixer: { run: "node fixer.mjs {log} ${mode}", produces: patch }\n`,
      'lib/v.txt': 'a\n',
      'check.mjs': CHECK,
      'fixer.mjs': FIXER,
    },
    `id: p
files_scope: { write: ["lib/**"] }
workstreams:
  - id: ws
${wsExtra}    tasks:
      - id: check
        kind: static
        run: node check.mjs
        inputs: ["lib/**", "check.mjs"]
        fix: fixer
`,
  );
}

test('FIX loop: the tool answers twice, the second patch fixes it; fix patches verified and committed', async () => {
  const dir = fixProject('advance', '    commit: true\n');
  try {
    const r = await runUet(dir, ['build', '--verbose']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'lib/v.txt'), 'c\n');
    assert.match(r.stdout, 'fixed by 2 patches');
    const entries = await ledger(dir);
    assert.equal(
      entries.map((e) => e.state),
      ['committed', 'committed'],
    );
    assert.match(git(dir, 'log', '-1', '--format=%s'), `uet: a to b (+1 more) [${entries[0]!.patch_id}, ${entries[1]!.patch_id}]`);
    assert.is(git(dir, 'show', '--name-only', '--format=', 'HEAD'), 'lib/v.txt');
    const r2 = await runUet(dir, ['build']);
    assert.is(r2.code, 0, 'the fixed tree passes on its own');
  } finally {
    removeProject(dir);
  }
});

test('FIX loop: an oscillating fixer trips the breaker; its patches are reversed and quarantined, the tree as before', async () => {
  const dir = fixProject('oscillate');
  try {
    const before = snapshot(dir);
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stdout, 'E_OSCILLATION');
    assert.equal(snapshot(dir), before);
    const entries = await ledger(dir);
    assert.is(entries.length, 2);
    for (const e of entries) {
      assert.is(e.state, 'quarantined');
      assert.ok(e.history.some((h) => h.state === 'rolled_back'));
      assert.ok(exists(dir, `.uet/quarantine/${e.patch_id}/reason.json`));
    }
    const events = (await runUet(dir, ['runs', 'last', '--json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; code?: string });
    assert.ok(events.some((e) => e.type === 'fix-breaker' && e.code === 'E_OSCILLATION'));
  } finally {
    removeProject(dir);
  }
});

test('a produces: patch tool: its answer ({patch} file or stdout) is applied through the ledger, a new answer replaces the old', async () => {
  const GEN = `import fs from 'node:fs';
const [out, word] = process.argv.slice(2);
const text = '--- /dev/null\\n+++ b/lib/gen.txt\\n@@ -0,0 +1 @@\\n+' + word + '\\n';
if (out === '-') process.stdout.write(text); else fs.writeFileSync(out, text);
`;
  const dir = project(
    {
      'uet.config.yaml': `${CONFIG}tools:\n  gen: { run: "node gen.mjs", produces: patch }\n`,
      'gen.mjs': GEN,
    },
    `id: p
files_scope: { write: ["lib/**"], create: ["lib/**"] }
workstreams:
  - id: ws
    tasks:
      - id: generate
        kind: edit
        tool: gen
        args: "{patch} hello"
        inputs: ["gen.mjs"]
`,
  );
  try {
    let r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'lib/gen.txt'), 'hello\n');
    let entries = await ledger(dir);
    assert.equal(
      entries.map((e) => e.state),
      ['verified'],
    );
    writeText(dir, 'phases/p.yaml', readText(dir, 'phases/p.yaml').replace('{patch} hello', '- bye'));
    r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'lib/gen.txt'), 'bye\n', 'the old answer was reversed, the new one (from stdout) applied');
    entries = await ledger(dir);
    assert.equal(
      entries.map((e) => e.state),
      ['rolled_back', 'verified'],
    );
  } finally {
    removeProject(dir);
  }
});

test('FIX loop: a fix patch outside files_scope is refused; the loop gives up and the tree is as before it', async () => {
  const dir = fixProject('escape');
  try {
    const before = snapshot(dir);
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stdout, "E_PATCH_SCOPE: 'check.mjs' is outside the workstream's files_scope.write");
    assert.equal(snapshot(dir), before, 'the first fix (a to b) was reversed');
    const entries = await ledger(dir);
    assert.equal(
      entries.map((e) => e.state),
      ['quarantined', 'quarantined'],
    );
  } finally {
    removeProject(dir);
  }
});

test.run();
