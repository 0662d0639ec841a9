/**
 * Parsing and applying unified diffs, checked against `git apply` on the same input: for each
 * case, both tools start from the same files; either both refuse, or both leave byte-identical trees.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyInMemory, readTree, writeTree } from '../lib/patch/apply.js';
import { parseUnifiedDiff } from '../lib/patch/parse.js';
import { snapshotTree } from './helpers/project.js';

interface Case {
  readonly name: string;
  readonly files: Record<string, string>;
  readonly diff: string;
  /** false: both must refuse */
  readonly applies: boolean;
}

const CASES: Case[] = [
  {
    name: 'modify with a/ b/ prefixes',
    files: { 'a.txt': 'one\ntwo\nthree\n' },
    diff: 'diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n',
    applies: true,
  },
  {
    name: 'create with /dev/null',
    files: {},
    diff: 'diff --git a/new/b.txt b/new/b.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new/b.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n',
    applies: true,
  },
  {
    name: 'delete with /dev/null',
    files: { 'gone/c.txt': 'bye\n', 'keep.txt': 'k\n' },
    diff: 'diff --git a/gone/c.txt b/gone/c.txt\ndeleted file mode 100644\n--- a/gone/c.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n',
    applies: true,
  },
  {
    name: 'several files in one patch',
    files: { 'x.txt': 'x\n', 'y.txt': 'y1\ny2\n' },
    diff: '--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-x\n+X\n--- a/y.txt\n+++ b/y.txt\n@@ -1,2 +1,3 @@\n y1\n+mid\n y2\n',
    applies: true,
  },
  {
    name: 'adds a missing final newline',
    files: { 'n.txt': 'a\nb' },
    diff: '--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n',
    applies: true,
  },
  {
    name: 'keeps a file without a final newline',
    files: { 'n.txt': 'a\nb' },
    diff: '--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n',
    applies: true,
  },
  {
    name: 'removes the final newline',
    files: { 'n.txt': 'a\nb\n' },
    diff: '--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n',
    applies: true,
  },
  {
    name: 'CRLF file, CRLF patch',
    files: { 'w.txt': 'one\r\ntwo\r\nthree\r\n' },
    diff: '--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n one\r\n-two\r\n+TWO\r\n three\r\n',
    applies: true,
  },
  {
    name: 'CRLF patch file throughout',
    files: { 'w.txt': 'one\r\ntwo\r\n' },
    diff: '--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,2 +1,2 @@\r\n one\r\n-two\r\n+2\r\n',
    applies: true,
  },
  {
    name: 'hunk offset from its header',
    files: { 'o.txt': 'p1\np2\np3\np4\na\nb\nc\nz1\nz2\n' },
    diff: '--- a/o.txt\n+++ b/o.txt\n@@ -2,3 +2,3 @@\n a\n-b\n+B\n c\n',
    applies: true,
  },
  {
    name: 'a hunk at line 1 is pinned to the start of the file',
    files: { 'o.txt': 'p1\np2\na\nb\nc\n' },
    diff: '--- a/o.txt\n+++ b/o.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n',
    applies: false,
  },
  {
    name: 'a hunk without trailing context is pinned to the end of the file',
    files: { 'o.txt': 'a\nb\nc\nd\n' },
    diff: '--- a/o.txt\n+++ b/o.txt\n@@ -2,2 +2,2 @@\n b\n-c\n+C\n',
    applies: false,
  },
  {
    name: 'a hunk without trailing context at the end applies',
    files: { 'o.txt': 'a\nb\nc\n' },
    diff: '--- a/o.txt\n+++ b/o.txt\n@@ -2,2 +2,3 @@\n b\n-c\n+C\n+D\n',
    applies: true,
  },
  {
    name: 'hunk that does not apply in the second file: nothing written',
    files: { 'x.txt': 'x\n', 'y.txt': 'y\n' },
    diff: '--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-x\n+X\n--- a/y.txt\n+++ b/y.txt\n@@ -1 +1 @@\n-not-y\n+Y\n',
    applies: false,
  },
  {
    name: 'creating a file that exists',
    files: { 'e.txt': 'here\n' },
    diff: '--- /dev/null\n+++ b/e.txt\n@@ -0,0 +1 @@\n+new\n',
    applies: false,
  },
  {
    name: 'changing a file that does not exist',
    files: {},
    diff: '--- a/missing.txt\n+++ b/missing.txt\n@@ -1 +1 @@\n-a\n+b\n',
    applies: false,
  },
  {
    name: 'utf-8 and invalid bytes survive',
    files: { 'u.txt': 'caf\u00e9 \u2603\n\xff\xfe raw\nend\n' },
    diff: '--- a/u.txt\n+++ b/u.txt\n@@ -1,3 +1,3 @@\n caf\u00e9 \u2603\n \xff\xfe raw\n-end\n+END\n',
    applies: true,
  },
  {
    name: 'rename with a change',
    files: { 'old.txt': 'a\nb\n' },
    diff: 'diff --git a/old.txt b/new.txt\nsimilarity index 50%\nrename from old.txt\nrename to new.txt\n--- a/old.txt\n+++ b/new.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n',
    applies: true,
  },
];

/** Files are written as latin1 so a case can hold any bytes (the \xff above is one byte). */
function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-patch-unit-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), Buffer.from(text, 'latin1'));
  }
  return dir;
}

const snapshot = (dir: string): Record<string, string> => snapshotTree(dir, ['patch.diff']);

for (const c of CASES) {
  test(`apply like git apply: ${c.name}`, async () => {
    const gitDir = tree(c.files);
    const ourDir = tree(c.files);
    try {
      const diffBytes = Buffer.from(c.diff, 'latin1');
      fs.writeFileSync(path.join(gitDir, 'patch.diff'), diffBytes);
      const g = spawnSync('git', ['apply', '--whitespace=nowarn', 'patch.diff'], { cwd: gitDir, encoding: 'utf8' });
      const parsed = parseUnifiedDiff(diffBytes.toString('latin1'));
      assert.ok(parsed.ok, `parse: ${JSON.stringify(!parsed.ok && parsed.error)}`);
      if (!parsed.ok) return;
      const before = snapshot(ourDir);
      const applied = applyInMemory([parsed.value], await readTree(ourDir, parsed.value.paths));
      if (applied.ok) await writeTree(ourDir, applied.value);
      assert.is(g.status === 0, c.applies, `git apply: ${g.stderr}`);
      assert.is(applied.ok, c.applies, `uet: ${JSON.stringify(!applied.ok && applied.error)}`);
      if (!c.applies) assert.equal(snapshot(ourDir), before, 'a refused patch writes nothing');
      assert.equal(snapshot(ourDir), snapshot(gitDir));
    } finally {
      fs.rmSync(gitDir, { recursive: true, force: true });
      fs.rmSync(ourDir, { recursive: true, force: true });
    }
  });
}

test('parse: paths, operations, counts and summary', () => {
  const r = parseUnifiedDiff(
    'From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] Fix the parser\n\n---\ndiff --git a/lib/p.ts b/lib/p.ts\n--- a/lib/p.ts\n+++ b/lib/p.ts\n@@ -1 +1,2 @@\n-a\n+b\n+c\n--- /dev/null\n+++ b/lib/./q.ts\n@@ -0,0 +1 @@\n+q\n',
  );
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(r.value.summary, 'Fix the parser');
  assert.equal(r.value.paths, ['lib/p.ts', 'lib/q.ts']);
  assert.equal(
    r.value.files.map((f) => f.op),
    ['modify', 'create'],
  );
  assert.is(r.value.linesChanged, 4);
});

test('parse: refuses paths outside the root, absolute paths, malformed hunks, non-diffs', () => {
  const bad = (d: string): string => {
    const r = parseUnifiedDiff(d);
    assert.not.ok(r.ok, d);
    return r.ok ? '' : r.error.kind;
  };
  assert.is(bad('--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n'), 'bad-path');
  assert.is(bad('--- a/lib/../../x\n+++ b/lib/../../x\n@@ -1 +1 @@\n-a\n+b\n'), 'bad-path');
  assert.is(bad('--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n'), 'bad-path');
  assert.is(bad('--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n+b\n'), 'unparsable');
  assert.is(bad('--- a/x\n+++ b/x\n@@ -1 +1 @@\n?what\n'), 'unparsable');
  assert.is(bad('just some text\n'), 'empty');
});

test('parse: binary hunks are recognised', () => {
  const r = parseUnifiedDiff('diff --git a/img.png b/img.png\nindex 1111111..2222222 100644\nBinary files a/img.png and b/img.png differ\n');
  assert.ok(r.ok);
  if (r.ok) assert.ok(r.value.files[0]!.binary);
});

test.run();
