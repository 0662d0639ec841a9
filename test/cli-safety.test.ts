/**
 * One writer per project, and a build killed at any moment leaves nothing false behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProject, readText, removeProject, runUet, spawnUet , withProject } from './helpers/project.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('two concurrent builds serialize, and the second says who holds the lock', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "echo start $(date +%s%N) >> spans.log; sleep 0.6; echo end $(date +%s%N) >> spans.log"
`,
  }, async (dir) => {
    const a = runUet(dir, ['build']);
    // Start the second once the first holds the lock, so the order is known.
    for (let i = 0; i < 100 && !fs.existsSync(path.join(dir, '.uet/lock')); i++) await sleep(50);
    const b = runUet(dir, ['build']);
    const [ra, rb] = await Promise.all([a, b]);
    assert.is(ra.code, 0, ra.stderr);
    assert.is(rb.code, 0, rb.stderr);
    assert.match(rb.stderr, /waiting for the project lock: held by pid \d+/);
    assert.not.match(rb.stderr, /hint: uet watch/, 'the holder is a build, not a watch');
    const lines = readText(dir, 'spans.log').trim().split('\n');
    assert.equal(lines.map((l) => l.split(' ')[0]), ['start', 'end', 'start', 'end']);
    const t = lines.map((l) => BigInt(l.split(' ')[1]!));
    assert.ok(t[2]! >= t[1]!, 'the second build started its task after the first ended');
  });
});

test('a lock left by a dead process is taken over', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': 'id: p\nworkstreams:\n  - id: w\n    tasks: [ { id: t, run: "true", inputs: [] } ]\n',
  }, async (dir) => {
    fs.mkdirSync(path.join(dir, '.uet'), { recursive: true });
    // pid 2^22-1 is above Linux's default pid_max; no process has it.
    fs.writeFileSync(path.join(dir, '.uet/lock'), JSON.stringify({ pid: 4194303, hostname: (await import('node:os')).hostname(), startedAt: Date.now(), command: 'uet build' }));
    const r = await runUet(dir, ['build'], { timeoutMs: 10_000 });
    assert.is(r.code, 0, r.stderr);
  });
});

/** 30 tasks in a chain of 6 layers; each layer's outputs feed the next. */
function layeredProject(): string {
  const tasks: string[] = [];
  const files: Record<string, string> = { 'uet.config.yaml': 'version: 1\nconcurrency: 2\n' };
  for (let layer = 0; layer < 6; layer++) {
    for (let i = 0; i < 5; i++) {
      const id = `t${layer}_${i}`;
      files[`src/${id}.txt`] = `${id}\n`;
      const deps = layer === 0 ? [] : [`t${layer - 1}_${i}`, `t${layer - 1}_${(i + 1) % 5}`];
      const cat = [`src/${id}.txt`, ...deps.map((d) => `out/${d}.txt`)].join(' ');
      tasks.push(`      - id: ${id}
        run: "sleep 0.04; mkdir -p out; cat ${cat} > out/${id}.tmp && mv out/${id}.tmp out/${id}.txt"
        inputs: [src/${id}.txt]
        outputs: [out/${id}.txt]
        depends_on: [${deps.join(', ')}]`);
    }
  }
  files['phases/p.yaml'] = `id: p\nworkstreams:\n  - id: w\n    tasks:\n${tasks.join('\n')}\n`;
  return makeProject(files);
}

function outputs(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const d = path.join(dir, 'out');
  for (const f of fs.readdirSync(d).sort()) if (f.endsWith('.txt')) out[f] = fs.readFileSync(path.join(d, f), 'utf8');
  return out;
}

test('a build killed with SIGKILL at any moment, then rebuilt, equals a clean build', async () => {
  const clean = layeredProject();
  const dir = layeredProject();
  try {
    const ref = await runUet(clean, ['build']);
    assert.is(ref.code, 0, ref.stderr);
    const expected = outputs(clean);
    assert.is(Object.keys(expected).length, 30);
    for (const delay of [150, 400, 700, 1000]) {
      // Edit a source each round so there is work to interrupt.
      fs.appendFileSync(path.join(dir, 'src/t0_0.txt'), '');
      fs.rmSync(path.join(dir, 'out'), { recursive: true, force: true });
      fs.rmSync(path.join(dir, 'cache'), { recursive: true, force: true });
      const child = spawnUet(dir, ['build']);
      await sleep(delay);
      // a build that already finished has nothing left to kill, and no 'exit' to wait for
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await sleep(150); // orphaned task processes finish their 40 ms sleeps
      const again = await runUet(dir, ['build']);
      assert.is(again.code, 0, again.stdout + again.stderr);
      assert.equal(outputs(dir), expected, `after a kill at ${delay} ms`);
      const third = await runUet(dir, ['build']);
      assert.match(third.stdout, /30 fresh/);
    }
  } finally {
    removeProject(clean);
    removeProject(dir);
  }
});

test('an output changed behind a fresh record is never trusted', async () => {
  const dir = layeredProject();
  try {
    await runUet(dir, ['build']);
    fs.writeFileSync(path.join(dir, 'out/t5_0.txt'), 'garbage');
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0);
    assert.match(r.stdout, /1 restored/);
    assert.ok(readText(dir, 'out/t5_0.txt').startsWith('t5_0\n'));
  } finally {
    removeProject(dir);
  }
});

test.run();
