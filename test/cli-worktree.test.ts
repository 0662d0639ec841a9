/**
 * Workstreams in git worktrees (isolation: worktree) and their integration into the user's
 * branch: real git repositories, the real CLI, real processes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collect, exists, git, gitInit, killGroup, makeProject, parseEvents, readText, removeProject, runUet, spawnUet, waitFor, writeText , withProject } from './helpers/project.js';

const CONFIG = 'version: 1\n';
const IGNORE = '.uet/\ncache/\n';

/** A phase of isolated workstreams; each entry: id → [file it writes, content, extra yaml]. */
function phase(ws: Array<{ id: string; file: string; content: string; extra?: string }>, gates = ''): string {
  return `id: p
${gates}workstreams:
${ws
  .map(
    (w) => `  - id: ${w.id}
    isolation: worktree
    files_scope: { write: ["${w.file}"] }
${w.extra ?? ''}    tasks:
      - id: edit
        kind: edit
        run: "printf '${w.content}\\\\n' > ${w.file}"
      - id: check
        kind: static
        run: "grep -q '${w.content}' ${w.file}"
        inputs: ["${w.file}"]
`,
  )
  .join('')}`;
}

/** Every file of the checkout (not .git, .uet, cache) with its bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (r === '.git' || r === '.uet' || r === 'cache') continue;
      if (e.isDirectory()) walk(r);
      else out.set(r, fs.readFileSync(path.join(dir, r)).toString('base64'));
    }
  };
  walk('');
  return out;
}

function branches(dir: string): string[] {
  return git(dir, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/').split('\n').filter(Boolean).sort();
}

function worktrees(dir: string): string[] {
  return git(dir, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length));
}

/** A repository whose phase p has two isolated workstreams a and b, each writing one file. */
function twoWorkstreams(a: [file: string, content: string], b: [file: string, content: string], gates = ''): string {
  const files: Record<string, string> = { [a[0]]: 'original\n', [b[0]]: 'original\n' };
  files['phases/p.yaml'] = phase(
    [
      { id: 'a', file: a[0], content: a[1] },
      { id: 'b', file: b[0], content: b[1] },
    ],
    gates,
  );
  return project(files);
}

function project(files: Record<string, string>): string {
  const dir = makeProject({ 'uet.config.yaml': CONFIG, '.gitignore': IGNORE, ...files });
  gitInit(dir);
  return dir;
}

test('two workstreams in worktrees touching different files both merge; the tasks ran in the worktrees', async () => {
  const cwds = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uet-cwds-')), 'cwds.txt');
  const dir = project({
    'a.txt': 'a\n',
    'b.txt': 'b\n',
    'phases/p.yaml': phase(
      [
        { id: 'a', file: 'a.txt', content: 'A changed', extra: '' },
        { id: 'b', file: 'b.txt', content: 'B changed' },
      ],
      `gates:\n  - id: GATE_CHECK\n    type: custom\n    needs: ["*/check"]\n    run: "pwd >> ${cwds}"\n`,
    ).replace("run: \"printf 'A changed", `run: "pwd >> ${cwds}; printf 'A changed`),
  });
  try {
    const head = git(dir, 'rev-parse', 'HEAD');
    const r = await runUet(dir, ['build', '--json']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    const events = parseEvents(r.stdout);
    assert.equal(readText(dir, 'a.txt'), 'A changed\n');
    assert.equal(readText(dir, 'b.txt'), 'B changed\n');
    // Two merge commits on main, each with the workstream's commit as its second parent.
    assert.is(git(dir, 'rev-list', '--count', `${head}..main`), '4');
    assert.match(git(dir, 'log', '--first-parent', '--format=%s', 'main'), /^uet: integrate p\/b \(run [0-9A-Z]{26}\)\nuet: integrate p\/a \(run [0-9A-Z]{26}\)\ninitial$/);
    assert.match(git(dir, 'log', '-1', '--format=%s', 'main^2'), /^uet: p\/b \(run [0-9A-Z]{26}\)$/);
    assert.equal(git(dir, 'status', '--porcelain'), '');
    // Finished: no worktree, no uet/* branch, nothing under .uet/worktrees.
    assert.equal(worktrees(dir), [dir]);
    assert.equal(branches(dir), ['main']);
    assert.equal(fs.readdirSync(path.join(dir, '.uet', 'worktrees')), []);
    // The edit task ran in its worktree; the gate (first and re-checks) in the main checkout.
    const where = readText(path.dirname(cwds), 'cwds.txt').split('\n').filter(Boolean);
    assert.is(where[0], path.join(dir, '.uet', 'worktrees', 'p', 'a'));
    assert.ok(where.slice(1).every((w) => w === dir), where.join('\n'));
    // The gates ran once in the worktrees' build, then again after each of the two merges.
    assert.is(where.length, 1 + 3);
    const merged = events.filter((e) => e.type === 'integration').map((e) => `${String(e.branch)} ${String(e.status)}`);
    assert.equal(merged, ['uet/p/a merged', 'uet/p/b merged']);
  } finally {
    removeProject(dir);
    fs.rmSync(path.dirname(cwds), { recursive: true, force: true });
  }
});

test('integration order: dependencies first, then id', async () => {
  const dir = project({
    'a.txt': 'a\n',
    'b.txt': 'b\n',
    'c.txt': 'c\n',
    'phases/p.yaml': phase([
      { id: 'a', file: 'a.txt', content: 'A', extra: '    depends_on: [c]\n' },
      { id: 'b', file: 'b.txt', content: 'B' },
      { id: 'c', file: 'c.txt', content: 'C' },
    ]),
  });
  try {
    const r = await runUet(dir, ['build', '--json']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    const order = parseEvents(r.stdout).filter((e) => e.type === 'integration').map((e) => e.branch);
    assert.equal(order, ['uet/p/b', 'uet/p/c', 'uet/p/a']);
  } finally {
    removeProject(dir);
  }
});

test('a merge conflict: E_MERGE_CONFLICT with the files and branches; the checkout, index and HEAD are exactly as before', async () => {
  const dir = twoWorkstreams(['shared.txt', 'from a'], ['shared.txt', 'from b']);
  try {
    // Untracked and staged-nothing: an untracked file does not make the checkout dirty.
    writeText(dir, 'notes.txt', 'my notes\n');
    const before = snapshot(dir);
    const status = git(dir, 'status', '--porcelain');
    const head = git(dir, 'rev-parse', 'HEAD');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /E_MERGE_CONFLICT merging uet\/p\/b into main \(after merging uet\/p\/a\) conflicts in shared\.txt/);
    assert.match(r.stdout, /branches kept: uet\/p\/b, uet\/p\/a/);
    assert.match(r.stdout, /integration failed: p/);
    assert.equal(snapshot(dir), before);
    assert.is(git(dir, 'status', '--porcelain'), status);
    assert.is(git(dir, 'rev-parse', 'HEAD'), head);
    assert.is(git(dir, 'diff', '--cached', '--name-only'), '');
    assert.not.ok(exists(dir, '.git/MERGE_HEAD'));
    // Both branches are kept for the user, with their work; the worktrees are gone.
    assert.equal(branches(dir), ['main', 'uet/p/a', 'uet/p/b']);
    assert.is(git(dir, 'show', 'uet/p/b:shared.txt'), 'from b');
    assert.equal(worktrees(dir), [dir]);
  } finally {
    removeProject(dir);
  }
});

test('a gate that fails after a merge moves the branch back and keeps every branch', async () => {
  // Each change alone passes; both together do not (a semantic conflict git cannot see).
  const gate = `gates:\n  - id: GATE_ONE\n    type: custom\n    needs: ["*/check"]\n    run: "test $(cat a.txt b.txt | grep -c changed) -le 1"\n`;
  const dir = twoWorkstreams(['a.txt', 'changed'], ['b.txt', 'changed'], gate);
  try {
    const head = git(dir, 'rev-parse', 'HEAD');
    const before = snapshot(dir);
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /E_INTEGRATION_GATE the gates of phase p failed after merging uet\/p\/a, uet\/p\/b into main/);
    assert.is(git(dir, 'rev-parse', 'HEAD'), head);
    assert.equal(snapshot(dir), before);
    assert.equal(branches(dir), ['main', 'uet/p/a', 'uet/p/b']);
  } finally {
    removeProject(dir);
  }
});

test('a dirty checkout is refused before anything runs, naming the files; --no-integrate builds anyway', async () => {
  const dir = project({
    'a.txt': 'a\n',
    'tracked.txt': 'v1\n',
    'phases/p.yaml': phase([{ id: 'a', file: 'a.txt', content: 'A changed' }]),
  });
  try {
    writeText(dir, 'tracked.txt', 'v2 (not committed)\n');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /E_DIRTY_CHECKOUT .* into main, which has uncommitted changes: tracked\.txt/);
    assert.match(r.stderr, /--no-integrate/);
    assert.not.ok(exists(dir, '.uet/worktrees'));
    assert.not.ok(exists(dir, '.uet/runs'), 'no run was started');
    assert.equal(branches(dir), ['main']);

    const left = await runUet(dir, ['build', '--no-integrate']);
    assert.is(left.code, 0, left.stdout + left.stderr);
    assert.is(git(dir, 'show', 'uet/p/a:a.txt'), 'A changed');
    assert.is(readText(dir, 'tracked.txt'), 'v2 (not committed)\n');
  } finally {
    removeProject(dir);
  }
});

test('--no-integrate commits each workstream on its branch and leaves the user branch alone', async () => {
  const dir = twoWorkstreams(['a.txt', 'A changed'], ['b.txt', 'B changed']);
  try {
    const head = git(dir, 'rev-parse', 'HEAD');
    const before = snapshot(dir);
    const r = await runUet(dir, ['build', '--no-integrate']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /uet\/p\/a left for you: built with --no-integrate/);
    assert.is(git(dir, 'rev-parse', 'HEAD'), head);
    assert.equal(snapshot(dir), before);
    assert.equal(branches(dir), ['main', 'uet/p/a', 'uet/p/b']);
    // One commit each, on top of HEAD, naming the workstream and the run; only the scoped file.
    assert.is(git(dir, 'rev-list', '--count', `${head}..uet/p/a`), '1');
    assert.match(git(dir, 'log', '-1', '--format=%s', 'uet/p/a'), /^uet: p\/a \(run [0-9A-Z]{26}\)$/);
    assert.is(git(dir, 'diff', '--name-only', head, 'uet/p/a'), 'a.txt');
    assert.is(git(dir, 'show', 'uet/p/b:b.txt'), 'B changed');
    assert.equal(worktrees(dir), [dir]);
    // The user merges them by hand.
    git(dir, 'merge', '-q', '--no-edit', 'uet/p/a', 'uet/p/b');
    assert.is(readText(dir, 'b.txt'), 'B changed\n');
  } finally {
    removeProject(dir);
  }
});

test('SIGKILL mid-phase leaves worktrees; the next build cleans them and finishes', async () => {
  const marks = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-marks-'));
  const dir = project({
    'a.txt': 'a\n',
    'b.txt': 'b\n',
    'phases/p.yaml': phase([
      { id: 'a', file: 'a.txt', content: 'A changed' },
      { id: 'b', file: 'b.txt', content: 'B changed' },
    ]).replace(
      "run: \"printf 'B changed",
      // a function: in a replacement string `$$` would stand for `$`
      () => `run: "if [ ! -f ${marks}/once ]; then echo $$ > ${marks}/pid; touch ${marks}/once; sleep 60; fi; printf 'B changed`,
    ),
  });
  try {
    const child = spawnUet(dir, ['build', '-j', '2']);
    const done = collect(child);
    await waitFor(() => fs.existsSync(path.join(marks, 'once')), 20_000, 'the slow task to start');
    killGroup(child, 'SIGKILL');
    await done;
    // The task leads its own process group, which the SIGKILL of uet's group did not reach.
    process.kill(-Number(fs.readFileSync(path.join(marks, 'pid'), 'utf8')), 'SIGKILL');
    assert.ok(exists(dir, '.uet/worktrees/p/b'), 'the crash left a worktree');
    assert.ok(worktrees(dir).length > 1);

    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /worktree p\/b cleaned/);
    assert.equal(worktrees(dir), [dir]);
    assert.equal(branches(dir), ['main']);
    assert.equal(fs.readdirSync(path.join(dir, '.uet', 'worktrees')), []);
    assert.is(readText(dir, 'a.txt'), 'A changed\n');
    assert.is(readText(dir, 'b.txt'), 'B changed\n');
    assert.equal(git(dir, 'status', '--porcelain'), '');
  } finally {
    removeProject(dir);
    fs.rmSync(marks, { recursive: true, force: true });
  }
});

test('Ctrl-C twice during an isolated task: exit 130, the worktree and its empty branch are removed', async () => {
  const marks = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-marks-'));
  const dir = project({
    'a.txt': 'a\n',
    'phases/p.yaml': phase([{ id: 'a', file: 'a.txt', content: 'A' }]).replace("run: \"printf 'A", () => `run: "touch ${marks}/started; sleep 30; printf 'A`),
  });
  try {
    const child = spawnUet(dir, ['build']);
    const done = collect(child);
    await waitFor(() => fs.existsSync(path.join(marks, 'started')), 20_000, 'the task to start');
    killGroup(child, 'SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    killGroup(child, 'SIGINT');
    const r = await done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.equal(worktrees(dir), [dir]);
    assert.equal(branches(dir), ['main']);
    assert.equal(fs.readdirSync(path.join(dir, '.uet', 'worktrees')), []);
    assert.is(readText(dir, 'a.txt'), 'a\n');
  } finally {
    removeProject(dir);
    fs.rmSync(marks, { recursive: true, force: true });
  }
});

test('keys are root-relative: a task built in a worktree is restored in the main checkout from the same cache entry', async () => {
  const counter = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uet-count-')), 'runs.txt');
  const spec = (isolation: string): string => `id: p
workstreams:
  - id: w
    isolation: ${isolation}
    files_scope: { write: ["src/**"] }
    tasks:
      - id: compile
        run: "echo run >> ${counter}; mkdir -p out; cat src/in.txt src/in.txt > out/built.txt"
        inputs: ["src/**"]
        outputs: ["out/**"]
`;
  const dir = project({ 'src/in.txt': 'hello\n', 'phases/p.yaml': spec('worktree') });
  try {
    const first = await runUet(dir, ['build', '--json']);
    assert.is(first.code, 0, first.stdout + first.stderr);
    const ran = parseEvents(first.stdout).find((e) => e.type === 'task-end' && e.task === 'p/w/compile')!;
    assert.is(ran.status, 'ran');
    assert.not.ok(exists(dir, 'out/built.txt'), 'the output was written in the worktree, not the main checkout');

    writeText(dir, 'phases/p.yaml', spec('none'));
    git(dir, 'commit', '-qam', 'no isolation');
    const second = await runUet(dir, ['build', '--json']);
    assert.is(second.code, 0, second.stdout + second.stderr);
    const restored = parseEvents(second.stdout).find((e) => e.type === 'task-end' && e.task === 'p/w/compile')!;
    assert.is(restored.status, 'restored');
    assert.is(restored.key, ran.key);
    assert.is(readText(dir, 'out/built.txt'), 'hello\nhello\n');
    assert.is(fs.readFileSync(counter, 'utf8'), 'run\n');
  } finally {
    removeProject(dir);
    fs.rmSync(path.dirname(counter), { recursive: true, force: true });
  }
});

test('a later phase starts from the integrated code: its worktree is made after the earlier phase merged', async () => {
  const dir = project({
    'a.txt': 'a\n',
    'phases/p.yaml': phase([{ id: 'a', file: 'a.txt', content: 'from p' }]),
    'phases/q.yaml': `id: q
depends_on: [p]
workstreams:
  - id: b
    isolation: worktree
    files_scope: { write: ["b.txt"], create: ["b.txt"] }
    tasks:
      - id: copy
        run: "cat a.txt > b.txt"
`,
  });
  try {
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'b.txt'), 'from p\n');
    assert.match(git(dir, 'log', '--first-parent', '--format=%s', 'main'), /^uet: integrate q\/b .*\nuet: integrate p\/a /);
  } finally {
    removeProject(dir);
  }
});

test('a project in a sub-folder of the repository: the worktree holds the whole repository, tasks run in the project inside it', async () => {
  const dir = makeProject({
    'README': 'the repository\n',
    'app/uet.config.yaml': CONFIG,
    'app/.gitignore': IGNORE,
    'app/a.txt': 'a\n',
    'app/phases/p.yaml': phase([{ id: 'a', file: 'a.txt', content: 'A changed' }]),
  });
  gitInit(dir);
  try {
    const r = await runUet(path.join(dir, 'app'), ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'app/a.txt'), 'A changed\n');
    assert.is(git(dir, 'diff', '--name-only', 'HEAD^1', 'HEAD'), 'app/a.txt');
    assert.equal(git(dir, 'status', '--porcelain'), '');
  } finally {
    removeProject(dir);
  }
});

test('isolation: worktree outside a git repository is a spec error with its location', async () => {
  await withProject({ 'uet.config.yaml': CONFIG, 'a.txt': 'a\n', 'phases/p.yaml': phase([{ id: 'a', file: 'a.txt', content: 'A' }]) }, async (dir) => {
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /phases\/p\.yaml:3:\d+ E_NOT_A_REPO workstream 'p\/a' has isolation: worktree, but .* is not in a git repository/);
    assert.match(r.stderr, /hint: run `git init`/);
  });
});

test('patches of an isolated workstream apply and commit in its worktree, then merge into the checkout', async () => {
  const dir = project({
    'a.txt': 'a\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: a
    isolation: worktree
    commit: true
    files_scope: { write: ["a.txt"] }
    tasks:
      - id: apply
        kind: edit
        patches: ["patches/*.diff"]
      - id: check
        kind: static
        run: "grep -q b a.txt && pwd > where.txt"
        inputs: [a.txt]
`,
  });
  try {
    // The patch is not committed: an AI tool's fresh answer lives in the user's checkout only.
    writeText(dir, 'patches/a.diff', '--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readText(dir, 'a.txt'), 'b\n', 'the merged branch brought the patched file');
    const log = git(dir, 'log', '--format=%s', '--all');
    assert.match(log, /uet/);
    const ledger = await runUet(dir, ['ledger', '--json']);
    const entries = ledger.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string });
    assert.is(entries.length, 1);
    assert.ok(['verified', 'committed'].includes(entries[0]!.state), entries[0]!.state);
    assert.is(git(dir, 'status', '--porcelain', '--untracked-files=no').trim(), '');
  } finally {
    removeProject(dir);
  }
});

test.run();
