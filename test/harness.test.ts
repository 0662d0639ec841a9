/** Tests of the integration-test harness itself (test/helpers/project.ts). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  countLines,
  exists,
  git,
  gitInit,
  isAlive,
  killGroup,
  makeProject,
  readText,
  removeProject,
  REPO_ROOT,
  runUet,
  spawnUet,
  collect,
  UET_BIN,
  waitFor,
  writeText,
  parseEvents,
} from './helpers/project.js';

test('UET_BIN points at the repository bin/uet.js', () => {
  assert.ok(fs.existsSync(path.join(REPO_ROOT, 'package.json')), REPO_ROOT);
  assert.ok(fs.existsSync(UET_BIN), UET_BIN);
  assert.is(path.relative(REPO_ROOT, UET_BIN), path.join('bin', 'uet.js'));
});

test('makeProject writes nested files under os.tmpdir() and removeProject deletes them', () => {
  const dir = makeProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/phase-1/ws.yaml': 'id: ws\n',
    'empty/': '',
  });
  try {
    assert.ok(path.isAbsolute(dir));
    assert.ok(dir.startsWith(fs.realpathSync(os.tmpdir())));
    assert.is(readText(dir, 'uet.config.yaml'), 'version: 1\n');
    assert.is(readText(dir, 'phases/phase-1/ws.yaml'), 'id: ws\n');
    assert.ok(fs.statSync(path.join(dir, 'empty')).isDirectory());
    assert.not.ok(exists(dir, 'missing.txt'));
    writeText(dir, 'a/b/c.txt', 'x');
    assert.ok(exists(dir, 'a/b/c.txt'));
  } finally {
    removeProject(dir);
  }
  assert.not.ok(fs.existsSync(dir));
});

test('removeProject refuses folders it did not make', () => {
  assert.throws(() => removeProject(REPO_ROOT), /refusing/);
});

test('countLines counts non-empty lines, 0 for a missing file', () => {
  const dir = makeProject({ 'runs.txt': 'x\nx\n\nx\n' });
  try {
    assert.is(countLines(dir, 'runs.txt'), 3);
    assert.is(countLines(dir, 'nope.txt'), 0);
  } finally {
    removeProject(dir);
  }
});

test('runUet reports a non-zero exit, both streams, cwd, env and stdin', async () => {
  const dir = makeProject({
    'script.mjs': [
      "import * as fs from 'node:fs';",
      "const input = fs.readFileSync(0, 'utf8');",
      "console.log(JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), v: process.env.HARNESS_V, input, color: process.env.FORCE_COLOR ?? null }));",
      "console.error('to stderr');",
      'process.exitCode = 3;',
      '',
    ].join('\n'),
  });
  try {
    const res = await runUet(dir, ['build', '--dry-run'], {
      script: path.join(dir, 'script.mjs'),
      env: { HARNESS_V: 'yes' },
      input: 'hello',
    });
    assert.is(res.code, 3);
    assert.is(res.signal, null);
    assert.is(res.timedOut, false);
    assert.is(res.stderr.trim(), 'to stderr');
    const out = JSON.parse(res.stdout) as Record<string, unknown>;
    assert.equal(out.args, ['build', '--dry-run']);
    assert.is(out.cwd, dir);
    assert.is(out.v, 'yes');
    assert.is(out.input, 'hello');
    assert.is(out.color, null, 'FORCE_COLOR is not handed to the CLI');
  } finally {
    removeProject(dir);
  }
});

test('runUet kills a child that outlives timeoutMs', async () => {
  const dir = makeProject({ 'hang.mjs': 'setInterval(() => {}, 1000);\n' });
  try {
    const started = Date.now();
    const res = await runUet(dir, [], { script: path.join(dir, 'hang.mjs'), timeoutMs: 300 });
    assert.ok(res.timedOut);
    assert.is(res.signal, 'SIGKILL');
    assert.ok(Date.now() - started < 5_000);
    assert.match(res.stderr, /timeout/);
  } finally {
    removeProject(dir);
  }
});

test('spawnUet + killGroup signals the child and its children', async () => {
  const dir = makeProject({
    'parent.mjs': [
      "import { spawn } from 'node:child_process';",
      "spawn(process.execPath, ['-e', \"require('fs').writeFileSync('child.pid', String(process.pid)); setInterval(() => {}, 1000)\"], { stdio: 'ignore' });",
      "process.on('SIGINT', () => { console.log('interrupted'); process.exit(130); });",
      'setInterval(() => {}, 1000);',
      '',
    ].join('\n'),
  });
  try {
    const child = spawnUet(dir, [], { script: path.join(dir, 'parent.mjs') });
    const done = collect(child, 10_000);
    await waitFor(() => exists(dir, 'child.pid'), 10_000, 'grandchild started');
    const grandchild = Number(readText(dir, 'child.pid'));
    killGroup(child, 'SIGINT');
    const res = await done;
    assert.is(res.code, 130);
    assert.is(res.stdout.trim(), 'interrupted');
    // a killed orphan may stay a zombie where PID 1 does not reap: isAlive counts that as gone
    await waitFor(() => !isAlive(grandchild), 5_000, 'grandchild gone');
  } finally {
    removeProject(dir);
  }
});

test('parseEvents reads NDJSON and names a bad line', () => {
  assert.equal(parseEvents('{"a":1}\n\n{"b":2}\n'), [{ a: 1 }, { b: 2 }]);
  assert.throws(() => parseEvents('{"a":1}\nnope\n'), /line 2/);
});

const hasGit = spawnSync('git', ['--version']).status === 0;
(hasGit ? test : test.skip)('git/gitInit commit with a fixed identity', () => {
  const dir = makeProject({ 'a.txt': 'a\n' });
  try {
    gitInit(dir);
    assert.is(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), 'main');
    assert.is(git(dir, 'log', '--format=%an <%ae>'), 'uet test <uet-test@example.invalid>');
    assert.is(git(dir, 'status', '--porcelain'), '');
    assert.throws(() => git(dir, 'no-such-command'), /exited/);
  } finally {
    removeProject(dir);
  }
});

test.run();
