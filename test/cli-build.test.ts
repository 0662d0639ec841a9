/**
 * The main job, driven through the real CLI on real temporary projects. Which tasks ran is
 * read from a side-effect file the tasks append to, never from uet's own report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { isAlive, makeProject, readText, removeProject, runUet, takeLines, UET_BIN, writeText , withProject } from './helpers/project.js';
import { graphCacheJson } from '../lib/graph/graph-cache.js';
import { DEFAULT_SERVER_COMM } from './helpers/fork-server.js';

const CONFIG = `version: 1
project: t
env:
  hash: [MODE]
`;

/**
 * p1/ws: gen (src/a.txt -> out/a.txt), upper (out/a.txt -> out/A.txt), count (out/A.txt -> out/n.txt)
 *        side (src/b.txt -> out/b.txt), independent of the chain
 * p2/use: final (depends on phase p1; reads out/n.txt -> out/final.txt)
 */
function chainProject(extra: Record<string, string> = {}): string {
  return makeProject({
    'uet.config.yaml': CONFIG,
    'src/a.txt': 'hello\n',
    'src/b.txt': 'side\n',
    'phases/p1.yaml': `id: p1
workstreams:
  - id: ws
    tasks:
      - id: gen
        run: echo gen >> runs.log && mkdir -p out && cat src/a.txt > out/a.txt
        inputs: [src/a.txt]
        outputs: [out/a.txt]
      - id: upper
        run: echo upper >> runs.log && tr a-z A-Z < out/a.txt > out/A.txt
        inputs: []
        outputs: [out/A.txt]
        depends_on: [gen]
      - id: count
        run: echo count >> runs.log && wc -c < out/A.txt | tr -d ' ' > out/n.txt
        inputs: []
        outputs: [out/n.txt]
        depends_on: [upper]
      - id: side
        run: echo side >> runs.log && mkdir -p out && cat src/b.txt > out/b.txt
        inputs: [src/b.txt]
        outputs: [out/b.txt]
`,
    'phases/p2.yaml': `id: p2
depends_on: [p1]
workstreams:
  - id: use
    tasks:
      - id: final
        run: echo final >> runs.log && cat out/n.txt out/b.txt > out/final.txt
        inputs: [out/n.txt, out/b.txt]
        outputs: [out/final.txt]
`,
    ...extra,
  });
}


const ran = (dir: string): string[] => takeLines(dir, 'runs.log');

async function build(dir: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = await runUet(dir, ['build', ...args], { env });
  return r;
}

test('first build runs everything, second runs nothing', async () => {
  const dir = chainProject();
  try {
    const first = await build(dir);
    assert.is(first.code, 0, first.stderr + first.stdout);
    assert.equal(ran(dir), ['count', 'final', 'gen', 'side', 'upper']);
    assert.is(readText(dir, 'out/final.txt'), '6\nside\n');
    const second = await build(dir);
    assert.is(second.code, 0, second.stderr);
    assert.equal(ran(dir), []);
    const last = second.stdout.trim().split('\n').pop()!;
    assert.match(last, /^t: 5 tasks — 5 fresh, 0 restored, 0 ran, 0 failed \(\d+\.\d s\)$/);
  } finally {
    removeProject(dir);
  }
});

test('touching one input re-runs exactly what depends on it', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    writeText(dir, 'src/b.txt', 'other\n');
    const r = await build(dir);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), ['final', 'side']);
    assert.is(readText(dir, 'out/final.txt'), '6\nother\n');
  } finally {
    removeProject(dir);
  }
});

test('an edit older than the racy window: its digest is journaled beside the stat index, not the index rewritten, and later edits are still seen', async () => {
  const dir = chainProject();
  // files younger than the racy window (2 s) are never recorded: each step lets them age past it
  const age = (): Promise<void> => new Promise((r) => setTimeout(r, 2100));
  const index = path.join(dir, '.uet', 'stat-index');
  const journal = `${index}.journal`;
  try {
    await age();
    assert.is((await build(dir)).code, 0);
    ran(dir);
    const before = fs.statSync(index, { bigint: true });
    assert.not.ok(fs.existsSync(journal), 'control: the first build writes the index whole');
    writeText(dir, 'src/b.txt', 'other\n');
    await age();
    const r = await build(dir);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), ['final', 'side']);
    const after = fs.statSync(index, { bigint: true });
    assert.equal([after.ino, after.mtimeNs], [before.ino, before.mtimeNs], 'the index file is the one the first build wrote');
    assert.ok(fs.readFileSync(journal, 'utf8').includes('+["src/b.txt"'), 'the new digest of src/b.txt is in the journal');
    // the same size again: only the stat's times and the bytes tell this edit from the last
    writeText(dir, 'src/b.txt', 'again\n');
    await age();
    const again = await build(dir);
    assert.is(again.code, 0, again.stderr);
    assert.equal(ran(dir), ['final', 'side']);
    assert.is(readText(dir, 'out/final.txt'), '6\nagain\n');
  } finally {
    removeProject(dir);
  }
});

test('the compiled-graph cache keeps the edges, not the tasks\' references: a build from it re-runs the same dependents in order', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    // each workstream's tasks are kept as JSON text, read when a build needs one of them
    const cached = graphCacheJson(fs.readFileSync(path.join(dir, '.uet', 'graph.json')))!;
    const tasks = cached.spec.phases.flatMap((p) => p.workstreams.flatMap((ws) => JSON.parse(ws.tasks) as Array<{ id: string; dependsOn?: unknown[] }>));
    // a workstream's first task is kept whole, the others as what differs from it
    assert.ok(tasks.some((t) => t.id === 'upper'), 'upper is in the cache');
    assert.ok(tasks.every((t) => t.dependsOn === undefined || t.dependsOn.length === 0), 'references are left out of the cache');
    writeText(dir, 'src/a.txt', 'bye\n');
    // the full path (not the proof's hint), from the cache
    const r = await build(dir, [], { UET_NO_FAST_PATH: '1' });
    assert.is(r.code, 0, r.stderr);
    const order = readText(dir, 'runs.log').trim().split('\n');
    assert.equal(order, ['gen', 'upper', 'count', 'final'], `upper after gen, count after upper, final after the phase: ${order.join(',')}`);
    assert.is(readText(dir, 'out/final.txt'), '4\nside\n');
  } finally {
    removeProject(dir);
  }
});

test('a task whose output does not change stops the rebuild there (early cutoff)', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    // Same length, different letters: gen and upper re-run, count's output (the length) is unchanged.
    writeText(dir, 'src/a.txt', 'world\n');
    const r = await build(dir);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), ['count', 'gen', 'upper']);
  } finally {
    removeProject(dir);
  }
});

test('a deleted or hand-edited output is restored from the cache without running', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    fs.rmSync(path.join(dir, 'out/A.txt'));
    writeText(dir, 'out/b.txt', 'tampered\n');
    const r = await build(dir);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), []);
    assert.is(readText(dir, 'out/A.txt'), 'HELLO\n');
    assert.is(readText(dir, 'out/b.txt'), 'side\n');
    assert.match(r.stdout, /2 restored/);
  } finally {
    removeProject(dir);
  }
});

test('changing a hashed env var or the command re-runs the task', async () => {
  const dir = chainProject();
  try {
    await build(dir, [], { MODE: 'a' });
    ran(dir);
    await build(dir, [], { MODE: 'a' });
    assert.equal(ran(dir), []);
    await build(dir, [], { MODE: 'b' });
    // Every task hashes MODE; a fresh cache holds none of the 'b' keys.
    assert.equal(ran(dir), ['count', 'final', 'gen', 'side', 'upper']);
    // Back to 'a': every key is in the cache, outputs identical: restored, nothing runs.
    await build(dir, [], { MODE: 'a' });
    assert.equal(ran(dir), []);
    const p1 = readText(dir, 'phases/p1.yaml').replace('cat src/b.txt > out/b.txt', 'cat src/b.txt src/b.txt > out/b.txt');
    writeText(dir, 'phases/p1.yaml', p1);
    const r = await build(dir, [], { MODE: 'a' });
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), ['final', 'side']);
  } finally {
    removeProject(dir);
  }
});

test('a failing task is not cached and its dependents do not run', async () => {
  await withProject({
    'uet.config.yaml': CONFIG,
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: bad
        run: echo bad >> runs.log && echo "it broke" && test "$MODE" = ok
        inputs: []
        env: { pass: [MODE] }
      - id: after
        run: echo after >> runs.log
        inputs: []
        depends_on: [bad]
`,
  }, async (dir) => {
    const r = await build(dir, [], { MODE: 'no' });
    assert.is(r.code, 1);
    assert.equal(ran(dir), ['bad']);
    assert.match(r.stdout, /p\/w\/bad \| it broke/);
    assert.match(r.stdout, /blocked\s+p\/w\/after/);
    const again = await build(dir, [], { MODE: 'no' });
    assert.is(again.code, 1);
    assert.equal(ran(dir), ['bad']);
    const fixed = await build(dir, [], { MODE: 'ok' });
    assert.is(fixed.code, 0, fixed.stdout);
    assert.equal(ran(dir), ['after', 'bad']);
  });
});

test('--keep-going builds everything whose needs did not fail', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - { id: bad, run: "echo bad >> runs.log; exit 3", inputs: [] }
      - { id: after, run: "echo after >> runs.log", inputs: [], depends_on: [bad] }
      - { id: other, run: "sleep 0.3; echo other >> runs.log", inputs: [] }
`,
  }, async (dir) => {
    const r = await build(dir, ['-j', '1', '--keep-going']);
    assert.is(r.code, 1);
    assert.equal(ran(dir), ['bad', 'other']);
    assert.match(r.stdout, /1 ran, 1 failed, 1 blocked/);
  });
});

test('gates block their dependents; blocking: false only reports', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p1.yaml': `id: p1
gates:
  - id: GATE_LINT
    type: lint
    needs: { kind: static }
  - id: GATE_SOFT
    type: custom
    needs: ["w/lint"]
    run: "echo soft >> runs.log; exit 1"
    blocking: false
workstreams:
  - id: w
    tasks:
      - { id: lint, kind: static, run: "echo lint >> runs.log; test ! -f fail-lint", inputs: ["fail-*"] }
`,
    'phases/p2.yaml': `id: p2
depends_on: [p1]
workstreams:
  - id: x
    tasks:
      - { id: after, run: "echo after >> runs.log", inputs: [] }
`,
  }, async (dir) => {
    const ok = await build(dir);
    assert.is(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ran(dir), ['after', 'lint', 'soft']);
    assert.match(ok.stdout, /GATE_SOFT failed \(not blocking\)/);
    writeText(dir, 'fail-lint', '');
    const blocked = await build(dir);
    assert.is(blocked.code, 1);
    assert.equal(ran(dir), ['lint']);
    assert.match(blocked.stdout, /blocked\s+p2\/x\/after/);
  });
});

test('a gate with its own run blocks when the run fails, even though its members passed', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p1.yaml': `id: p1
gates:
  - id: GATE_UNIT
    type: unit
    needs: ["w/*"]
    run: "echo gate >> runs.log; test ! -f fail-gate"
workstreams:
  - id: w
    tasks:
      - { id: test, kind: runtime, run: "echo test >> runs.log", inputs: [] }
  - id: y
    depends_on: [GATE_UNIT]
    tasks:
      - { id: after, run: "echo after >> runs.log", inputs: [] }
`,
  }, async (dir) => {
    writeText(dir, 'fail-gate', '');
    const r = await build(dir);
    assert.is(r.code, 1);
    assert.equal(ran(dir), ['gate', 'test']);
    assert.match(r.stdout, /GATE_UNIT failed/);
  });
});

test('targets: a phase builds only what it needs; a task target builds its dependencies', async () => {
  const dir = chainProject();
  try {
    const r = await build(dir, ['p1/ws/upper']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(dir), ['gen', 'upper']);
    const bad = await build(dir, ['p1/ws/uper']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /E_UNKNOWN_TARGET .*did you mean 'p1\/ws\/upper'/);
    const glob = await build(dir, ['p1/ws/s*']);
    assert.is(glob.code, 0);
    assert.equal(ran(dir), ['side']);
  } finally {
    removeProject(dir);
  }
});

test('--dry-run says fresh, restore or run and why, and changes nothing', async () => {
  const dir = chainProject();
  try {
    const first = await build(dir, ['--dry-run']);
    assert.is(first.code, 0, first.stderr);
    assert.equal(ran(dir), []);
    assert.match(first.stdout, /would run p1\/ws\/gen: never built/);
    await build(dir);
    ran(dir);
    writeText(dir, 'src/b.txt', 'changed\n');
    const second = await build(dir, ['--dry-run']);
    assert.equal(ran(dir), []);
    assert.match(second.stdout, /would run p1\/ws\/side: input src\/b.txt changed/);
    assert.match(second.stdout, /fresh\s+p1\/ws\/gen/);
    assert.match(second.stdout, /would run p2\/use\/final: upstream p1\/ws\/side would run|would run p2\/use\/final: upstream p1 would run/);
    assert.is(readText(dir, 'out/b.txt'), 'side\n');
  } finally {
    removeProject(dir);
  }
});

test('explain names what changed since the last success', async () => {
  const dir = chainProject();
  try {
    const never = await runUet(dir, ['explain', 'p1/ws/gen']);
    assert.match(never.stdout, /would run — never built/);
    await build(dir);
    const fresh = await runUet(dir, ['explain', 'p1/ws/gen']);
    assert.match(fresh.stdout, /p1\/ws\/gen: fresh/);
    writeText(dir, 'src/a.txt', 'changed\n');
    const changed = await runUet(dir, ['explain', 'p1/ws/gen'], { env: { MODE: 'x' } });
    assert.match(changed.stdout, /input src\/a.txt changed/);
    assert.match(changed.stdout, /env MODE changed/);
    assert.match(changed.stdout, /last ran in run [0-9A-Z]{26}/);
  } finally {
    removeProject(dir);
  }
});

test('a corrupted cache entry is not restored: the task runs instead', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    // Flip a byte in every blob of the cache, and in every line of its entry logs (entries keep
    // small outputs' bytes themselves). Then delete an output.
    const content = path.join(dir, 'cache');
    const blobs: string[] = [];
    const logs: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.includes(`${path.sep}content-v2${path.sep}`)) blobs.push(p);
        else if (p.includes(`${path.sep}entries-v1${path.sep}`)) logs.push(p);
      }
    };
    walk(content);
    assert.ok(logs.length > 0, 'the cache holds entries');
    for (const b of blobs) {
      const buf = fs.readFileSync(b);
      buf[0] = buf[0]! ^ 0xff;
      fs.chmodSync(b, 0o644);
      fs.writeFileSync(b, buf);
    }
    for (const l of logs) {
      const buf = fs.readFileSync(l);
      // the last byte of each line: inside the entry its checksum covers
      for (let i = 1; i <= buf.length; i++) if (i === buf.length || buf[i] === 0x0a) buf[i - 1] = buf[i - 1]! ^ 0x01;
      fs.writeFileSync(l, buf);
    }
    fs.rmSync(path.join(dir, 'out/b.txt'));
    const r = await build(dir);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.equal(ran(dir), ['side']);
    assert.is(readText(dir, 'out/b.txt'), 'side\n');
  } finally {
    removeProject(dir);
  }
});

test('spec errors: code, file and line, exit 2, nothing built', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: compile
        run: echo compile >> runs.log
      - id: test
        run: echo test >> runs.log
        depends_on: [compil]
`,
  }, async (dir) => {
    const r = await build(dir);
    assert.is(r.code, 2);
    assert.match(r.stderr, /phases\/p\.yaml:9:22 E_UNKNOWN_DEP .*'compil'.*did you mean 'compile'/);
    assert.equal(ran(dir), []);
    const v = await runUet(dir, ['validate']);
    assert.is(v.code, 2);
    writeText(dir, 'phases/p.yaml', 'id: p\nworkstreams:\n  - id: w\n    tasks: [ {id: x, run: "a"\n');
    const y = await build(dir);
    assert.is(y.code, 2);
    assert.match(y.stderr, /phases\/p\.yaml:\d+:\d+ E_YAML/);
  });
});

test('a cycle is printed as its path', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - { id: a, run: "true", depends_on: [c] }
      - { id: b, run: "true", depends_on: [a] }
      - { id: c, run: "true", depends_on: [b] }
`,
  }, async (dir) => {
    const r = await build(dir);
    assert.is(r.code, 2);
    assert.match(r.stderr, /phases\/p\.yaml:\d+:\d+ E_CYCLE dependency cycle: p\/w\/(a|b|c) -> p\/w\/. -> p\/w\/. -> p\/w\/\1/);
  });
});

test('two workstreams that may run at once and write the same files: E_SCOPE_CONFLICT', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: one
    files_scope: ["lib/**"]
    tasks: [ { id: a, run: "true" } ]
  - id: two
    files_scope: { write: ["lib/a.ts"] }
    tasks: [ { id: b, run: "true" } ]
  - id: three
    depends_on: [one]
    files_scope: ["lib/**"]
    tasks: [ { id: c, run: "true" } ]
`,
  }, async (dir) => {
    const r = await runUet(dir, ['validate']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /E_SCOPE_CONFLICT workstreams 'p\/one' and 'p\/two'/);
    // 'three' depends on 'one': those two never run at once. But three and two may.
    assert.match(r.stderr, /'p\/two' and 'p\/three'|'p\/three' and 'p\/two'/);
    assert.not.match(r.stderr, /'p\/one' and 'p\/three'/);
  });
});

test('graph prints dot, mermaid and json', async () => {
  const dir = chainProject();
  try {
    const json = await runUet(dir, ['graph', '--format', 'json']);
    assert.is(json.code, 0, json.stderr);
    const g = JSON.parse(json.stdout) as { nodes: Array<{ id: string; kind: string }>; edges: Array<{ from: string; to: string }> };
    assert.ok(g.nodes.some((n) => n.id === 'p1/ws/gen' && n.kind === 'task'));
    assert.ok(g.edges.some((e) => e.from === 'p1/ws/gen' && e.to === 'p1/ws/upper'));
    assert.ok(g.edges.some((e) => e.from === 'p1' && e.to === 'p2/use/final'));
    const dot = await runUet(dir, ['graph']);
    assert.match(dot.stdout, /^digraph uet \{/);
    assert.match(dot.stdout, /"p1\/ws\/gen" -> "p1\/ws\/upper"/);
    const mm = await runUet(dir, ['graph', 'p1/ws/upper', '--format', 'mermaid']);
    assert.match(mm.stdout, /^flowchart LR/);
    assert.not.match(mm.stdout, /final/);
  } finally {
    removeProject(dir);
  }
});

test('runs lists runs and shows one; --json streams events', async () => {
  const dir = chainProject();
  try {
    const j = await build(dir, ['--json']);
    const events = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: string });
    assert.is(events[0]!.type, 'run-start');
    assert.ok(events.some((e) => e.type === 'task-end' && e.status === 'ran'));
    // the full path, whose log lists every task (the no-op proof's says only `no-op`)
    await build(dir, [], { UET_NO_FAST_PATH: '1' });
    const list = await runUet(dir, ['runs']);
    assert.is(list.stdout.trim().split('\n').length, 2);
    assert.match(list.stdout, /success/);
    const last = await runUet(dir, ['runs', 'last']);
    assert.match(last.stdout, /fresh\s+p1\/ws\/gen/);
    const files = fs.readdirSync(path.join(dir, '.uet/runs'));
    assert.is(files.length, 2);
    assert.match(files[0]!, /^[0-9A-Z]{26}\.jsonl$/);
  } finally {
    removeProject(dir);
  }
});

test('a command that needs no shell runs without one, a failing one fails as through the shell; UET_DIRECT_EXEC=0 keeps the shell', async () => {
  const project = (fail: boolean): Record<string, string> => ({
    'uet.config.yaml': CONFIG,
    // who started it: the fork server (perl) when no shell was needed, else the shell
    'bin/who': '#!/bin/sh\ncat /proc/$PPID/comm\n',
    'src/a.txt': 'a\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: sum
        run: cksum src/a.txt > sum.txt
        inputs: [src/a.txt]
        outputs: [sum.txt]
      - id: who
        run: ./bin/who > who.txt
        inputs: [bin/who]
        outputs: [who.txt]
${fail ? `      - id: missing
        run: no-such-program-uet-test --flag
        inputs: []
` : ''}`,
  });
  for (const [env, starter] of [[{}, DEFAULT_SERVER_COMM], [{ UET_DIRECT_EXEC: '0' }, 'sh']] as const) {
    await withProject(project(false), async (dir) => {
      fs.chmodSync(path.join(dir, 'bin/who'), 0o755);
      const r = await runUet(dir, ['build'], { env });
      assert.is(r.code, 0, r.stderr + r.stdout);
      assert.is(readText(dir, 'who.txt'), `${starter}\n`);
      assert.is(readText(dir, 'sum.txt'), spawnSync('cksum', ['src/a.txt'], { cwd: dir, encoding: 'utf8' }).stdout);
    });
    await withProject(project(true), async (dir) => {
      fs.chmodSync(path.join(dir, 'bin/who'), 0o755);
      const r = await runUet(dir, ['build', '--keep-going'], { env });
      assert.is(r.code, 1, r.stderr + r.stdout);
      assert.match(r.stdout + r.stderr, 'exit code 127');
      assert.match(r.stdout + r.stderr, 'no-such-program-uet-test: not found');
    });
  }
});

test('a reader that stops early (uet runs | head -1) is no error', async () => {
  const dir = chainProject();
  try {
    for (let i = 0; i < 3; i++) await build(dir);
    // enough lines that the pipe is closed while uet still writes
    const r = spawnSync('sh', ['-c', `for i in $(seq 60); do node "$UET" build >/dev/null; done; node "$UET" runs | head -1; echo "uet=\${PIPESTATUS:-?}"`], { cwd: dir, env: { ...process.env, UET: UET_BIN }, encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, r.stderr);
    assert.not.match(r.stderr, /EPIPE|Unhandled|Error/, r.stderr);
    assert.match(r.stdout, /^[0-9A-Z]{26} /);
  } finally {
    removeProject(dir);
  }
});

test('clean deletes outputs so the next build restores or runs them', async () => {
  const dir = chainProject();
  try {
    await build(dir);
    ran(dir);
    const c = await runUet(dir, ['clean']);
    assert.is(c.code, 0, c.stderr);
    assert.not.ok(fs.existsSync(path.join(dir, 'out/a.txt')));
    const r = await build(dir);
    assert.equal(ran(dir), []);
    assert.match(r.stdout, /5 restored/);
    await runUet(dir, ['clean', '--cache']);
    await build(dir);
    assert.equal(ran(dir), ['count', 'final', 'gen', 'side', 'upper']);
  } finally {
    removeProject(dir);
  }
});

test('a task that runs again starts without the outputs its last run left: one it no longer writes is gone', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'src/name.txt': 'first\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: gen
        run: "mkdir -p out && n=$(cat src/name.txt) && echo $n > out/$n.txt"
        inputs: [src/name.txt]
        outputs: ["out/*.txt"]
`,
  }, async (dir) => {
    assert.is((await build(dir)).code, 0);
    assert.ok(fs.existsSync(path.join(dir, 'out/first.txt')));
    fs.writeFileSync(path.join(dir, 'src/name.txt'), 'second\n');
    const again = await build(dir);
    assert.is(again.code, 0, again.stdout + again.stderr);
    assert.equal(fs.readdirSync(path.join(dir, 'out')).sort(), ['second.txt']);
  });
});

test('timeout kills the task and its children', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "sleep 30 & echo $! > child.pid; wait"
        timeout: 500ms
`,
  }, async (dir) => {
    const r = await build(dir);
    assert.is(r.code, 1);
    assert.match(r.stdout, /timed out/);
    const pid = Number(readText(dir, 'child.pid').trim());
    await new Promise((res) => setTimeout(res, 300));
    assert.not.ok(isAlive(pid), 'the grandchild was killed');
  });
});

test('help and version tell the truth; a bad flag is exit 2', async () => {
  const dir = chainProject();
  try {
    const h = await runUet(dir, ['build', '--help']);
    assert.is(h.code, 0);
    for (const flag of ['--jobs', '--dry-run', '--force', '--keep-going', '--json', '--quiet', '--verbose', '--no-cache', '--replay-logs']) assert.ok(h.stdout.includes(flag), flag);
    // the variables the build reads are named
    for (const name of ['UET_NO_FAST_PATH', 'UET_REMOTE_CACHE']) assert.ok(h.stdout.includes(name), name);
    const v = await runUet(dir, ['--version']);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const bad = await runUet(dir, ['build', '--nope']);
    assert.is(bad.code, 2);
    const none = await runUet(path.dirname(dir), ['build']);
    assert.is(none.code, 2);
    assert.match(none.stderr, /E_CONFIG_NOT_FOUND/);
  } finally {
    removeProject(dir);
  }
});


/** One task reading src/a.txt and writing `output` with `run`. */
function oneTaskProject(run: string, output: string): Record<string, string> {
  return {
    'uet.config.yaml': 'version: 1\nproject: t\n',
    'src/a.txt': 'a\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: ws
    tasks:
      - id: one
        run: ${run}
        inputs: [src/a.txt]
        outputs: [${output}]
`,
  };
}

test('commands are forked by the fork server, or by uet itself with UET_FORK_SERVER=0, in both the pool and the direct path', async () => {
  // the parent of the task's shell: the fork server (python3 or perl) or uet itself (node)
  await withProject(oneTaskProject('mkdir -p out && cat /proc/$PPID/comm > out/parent.txt', 'out/parent.txt'), async (dir) => {
    const parentAfter = async (env: Record<string, string>, args: string[] = []): Promise<string> => {
      const r = await runUet(dir, ['build', ...args], { env });
      assert.is(r.code, 0, r.stderr);
      return readText(dir, 'out/parent.txt').trim();
    };
    // the first build goes through the pool; after a change of one input, the direct path
    assert.is(await parentAfter({}), DEFAULT_SERVER_COMM);
    writeText(dir, 'src/a.txt', 'b\n');
    assert.is(await parentAfter({}), DEFAULT_SERVER_COMM);
    writeText(dir, 'src/a.txt', 'c\n');
    assert.is(await parentAfter({ UET_FORK_SERVER: '0' }), 'node');
    // --force: every task runs, through the pool
    assert.is(await parentAfter({ UET_FORK_SERVER: '0' }, ['--force']), 'node');
    assert.is(await parentAfter({}, ['--force']), DEFAULT_SERVER_COMM);
  });
});

test('a few changed files whose tasks all come from the cache: the build ends without running a command', async () => {
  await withProject(oneTaskProject('mkdir -p out && cat src/a.txt > out/a.txt', 'out/a.txt'), async (dir) => {
    assert.is((await runUet(dir, ['build'])).code, 0);
    writeText(dir, 'src/a.txt', 'b\n');
    assert.is((await runUet(dir, ['build'])).code, 0);
    // back to what the first build cached: restored, no command runs
    writeText(dir, 'src/a.txt', 'a\n');
    const r = await runUet(dir, ['build'], { timeoutMs: 20_000 });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 restored/);
    assert.is(readText(dir, 'out/a.txt'), 'a\n');
  });
});

test.run();
