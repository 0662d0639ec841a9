/**
 * The fault suite: uet must never lose work or hand back a wrong byte, whatever goes wrong
 * around it. Real CLI processes, real files, a real redis-server (private to each test that
 * stops or kills it). Bounded in time: the 300-task build is killed at 20 moments in ONE
 * sequence (each rebuild continues the last and is itself the next one killed), so the whole
 * build runs about once; the remaining cases use small projects.
 *
 * Outputs are checked against what a clean build writes, computed from the task's command
 * (every output is a pure function of MODE and its position), not against uet's own report.
 */

import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collect, countLines, makeProject, parseEvents, readText, removeProject, runUet, spawnUet, killGroup, writeText } from './helpers/project.js';
import { REDIS_REQUIRED, REDIS_SKIP_REASON, freePort, startRedis, startSilentServer } from './helpers/redis.js';

const WS = 20;
const PER_WS = 15; // 300 tasks: 20 chains of 15

function chainsProject(cacheYaml = ''): string {
  const lines = ['id: p', 'workstreams:'];
  for (let w = 0; w < WS; w++) {
    lines.push(`  - id: w${w}`, '    tasks:');
    for (let j = 0; j < PER_WS; j++) {
      const prev = j === 0 ? 'src/seed.txt' : `out/w${w}/t${j - 1}.txt`;
      lines.push(
        `      - id: t${j}`,
        `        run: mkdir -p out/w${w} && { cat ${prev}; echo "${w} ${j} $MODE"; } > out/w${w}/t${j}.txt`,
        `        inputs: [${prev}]`,
        `        outputs: [out/w${w}/t${j}.txt]`,
        ...(j > 0 ? [`        depends_on: [t${j - 1}]`] : []),
      );
    }
  }
  return makeProject({
    'uet.config.yaml': `version: 1\nproject: faults\nenv:\n  hash: [MODE]\n${cacheYaml}`,
    'src/seed.txt': 'seed\n',
    'phases/p.yaml': `${lines.join('\n')}\n`,
  });
}

/** what a clean build writes for chain w, task j */
function expectedChain(w: number, j: number, mode: string): string {
  let s = 'seed\n';
  for (let i = 0; i <= j; i++) s += `${w} ${i} ${mode}\n`;
  return s;
}

function assertAllOutputs(dir: string, mode: string): void {
  for (let w = 0; w < WS; w++) {
    for (let j = 0; j < PER_WS; j++) assert.is(readText(dir, `out/w${w}/t${j}.txt`), expectedChain(w, j, mode), `out/w${w}/t${j}.txt`);
  }
}

/** every task a dry run calls fresh must have exactly the bytes a clean build writes */
async function assertNothingFalselyFresh(dir: string, mode: string): Promise<number> {
  const dry = await runUet(dir, ['build', '--dry-run', '--json'], { env: { MODE: mode } });
  assert.is(dry.code, 0, dry.stderr);
  let fresh = 0;
  for (const ev of parseEvents(dry.stdout)) {
    if (ev['type'] !== 'task-end' || ev['status'] !== 'fresh') continue;
    const m = /^p\/w(\d+)\/t(\d+)$/.exec(String(ev['task']));
    assert.ok(m, String(ev['task']));
    const rel = `out/w${m![1]}/t${m![2]}.txt`;
    assert.is(fs.existsSync(path.join(dir, rel)) ? readText(dir, rel) : '(missing)', expectedChain(Number(m![1]), Number(m![2]), mode), `${rel} is fresh`);
    fresh++;
  }
  return fresh;
}

test('SIGKILL a 300-task build at 20 moments: every rebuild ends with a clean build’s outputs, nothing falsely fresh', async () => {
  const dir = chainsProject();
  const mode = 'kill';
  try {
    let freshBefore = 0;
    for (let moment = 1; moment <= 20; moment++) {
      // the kill lands after `wanted` more tasks ran (fresh ones do not count), plus a varying
      // few ms: mid-task, mid-store, mid-record
      const wanted = 8;
      const child = spawnUet(dir, ['build', '--json'], { env: { MODE: mode } });
      const done = collect(child, 60_000);
      let ran = 0;
      let partial = '';
      await new Promise<void>((resolve) => {
        let killing = false;
        child.stdout!.on('data', (chunk: Buffer | string) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          ran += lines.filter((l) => l.includes('"type":"task-end"') && l.includes('"status":"ran"')).length;
          if (ran >= wanted && !killing) {
            killing = true;
            setTimeout(() => {
              killGroup(child, 'SIGKILL');
              resolve();
            }, (moment * 7) % 23);
          }
        });
        child.on('exit', () => resolve());
      });
      const killed = await done;
      assert.is(killed.signal, 'SIGKILL', `moment ${moment}: the build was killed before it finished (${killed.code})`);
      const fresh = await assertNothingFalselyFresh(dir, mode);
      assert.ok(fresh >= freshBefore, `moment ${moment}: work done before the kill is kept (${fresh} fresh, ${freshBefore} before)`);
      freshBefore = fresh;
    }
    const final = await runUet(dir, ['build', '--json'], { env: { MODE: mode } });
    assert.is(final.code, 0, final.stderr);
    assertAllOutputs(dir, mode);
    const again = await runUet(dir, ['build', '--json'], { env: { MODE: mode } });
    const statuses = parseEvents(again.stdout).filter((e) => e['type'] === 'task-end').map((e) => e['status']);
    assert.is(statuses.length, 300);
    assert.ok(statuses.every((s) => s === 'fresh'));
  } finally {
    removeProject(dir);
  }
});

/** a small project of independent tasks with 4 KB outputs, for the cache corruption rounds */
function smallProject(cacheYaml = '', tasks = 20, run = ''): string {
  const body = Array.from(
    { length: tasks },
    (_, i) => `      - id: t${i}
        run: ${run}echo t${i} >> runs.log && mkdir -p out && node -e "require('fs').writeFileSync('out/t${i}.bin', Buffer.alloc(4096 + ${i}, process.env.MODE + ':${i}:'))"
        inputs: [src/seed.txt]
        outputs: [out/t${i}.bin]
`,
  ).join('');
  return makeProject({
    'uet.config.yaml': `version: 1\nproject: small\nenv:\n  hash: [MODE]\ncache:\n  dir: cache\n${cacheYaml}`,
    'src/seed.txt': 'seed\n',
    'phases/p.yaml': `id: p\nworkstreams:\n  - id: w\n    tasks:\n${body}`,
  });
}

function expectedSmall(i: number, mode: string): Buffer {
  return Buffer.alloc(4096 + i, `${mode}:${i}:`);
}

function assertSmallOutputs(dir: string, mode: string, tasks = 20): void {
  for (let i = 0; i < tasks; i++) assert.ok(fs.readFileSync(path.join(dir, `out/t${i}.bin`)).equals(expectedSmall(i, mode)), `out/t${i}.bin`);
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
}

/** a deterministic pseudo-random sequence, so a failing round can be replayed */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

test('corrupt, truncate or delete random blobs and records in cache/: detected, never a wrong byte, the build finishes', async () => {
  const dir = smallProject();
  try {
    const first = await runUet(dir, ['build'], { env: { MODE: 'c' } });
    assert.is(first.code, 0, first.stderr);
    let damagedTotal = 0;
    let reranTotal = 0;
    for (let round = 1; round <= 6; round++) {
      const next = rng(round);
      assert.is((await runUet(dir, ['clean'])).code, 0);
      fs.rmSync(path.join(dir, 'runs.log'), { force: true });
      const files = [...filesUnder(path.join(dir, 'cache', 'content-v2')), ...filesUnder(path.join(dir, 'cache', 'index-v5')), ...filesUnder(path.join(dir, 'cache', 'entries-v1'))];
      for (let k = 0; k < 4; k++) {
        const f = files[Math.floor(next() * files.length)]!;
        if (!fs.existsSync(f)) continue;
        fs.chmodSync(f, 0o644);
        const bytes = fs.readFileSync(f);
        const how = Math.floor(next() * 3);
        if (how === 0) fs.rmSync(f);
        else if (how === 1) fs.writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
        else if (bytes.length > 0) {
          const at = Math.floor(next() * bytes.length);
          bytes[at] = bytes[at]! ^ 0x5a;
          fs.writeFileSync(f, bytes);
        }
        damagedTotal++;
      }
      const r = await runUet(dir, ['build', '--json'], { env: { MODE: 'c' } });
      assert.is(r.code, 0, `round ${round}: ${r.stderr}`);
      assertSmallOutputs(dir, 'c');
      reranTotal += countLines(dir, 'runs.log');
    }
    assert.ok(damagedTotal >= 20, `${damagedTotal} files damaged`);
    assert.ok(reranTotal > 0, 'some damage was detected and the task ran again');
    // and the cache is whole again: a clean rebuild restores everything
    assert.is((await runUet(dir, ['clean'])).code, 0);
    fs.rmSync(path.join(dir, 'runs.log'), { force: true });
    assert.is((await runUet(dir, ['build'], { env: { MODE: 'c' } })).code, 0);
    assertSmallOutputs(dir, 'c');
  } finally {
    removeProject(dir);
  }
});

const needsRedis = REDIS_SKIP_REASON === undefined || REDIS_REQUIRED ? test : test.skip;
const suffix = REDIS_SKIP_REASON === undefined || REDIS_REQUIRED ? '' : ` [${REDIS_SKIP_REASON}]`;

function warningsOf(stdout: string): string[] {
  return parseEvents(stdout)
    .filter((e) => e['type'] === 'warning')
    .map((e) => String(e['message']));
}

async function buildWithRemote(url: string, label: string, timeout = '1s'): Promise<void> {
  const dir = smallProject(`  remote:\n    url: ${url}\n    timeout: ${timeout}\n`, 6);
  try {
    const r = await runUet(dir, ['build', '--json'], { env: { MODE: label }, timeoutMs: 30_000 });
    assert.is(r.code, 0, `${label}: ${r.stderr}`);
    assert.not.ok(r.timedOut, `${label}: the build hung`);
    const w = warningsOf(r.stdout);
    assert.is(w.length, 1, `${label}: ${w.join(' | ')}`);
    assert.match(w[0]!, /shared cache at .* is unreachable/);
    assertSmallOutputs(dir, label, 6);
    const stats = await runUet(dir, ['cache', 'stats']);
    assert.match(stats.stdout, /remote: 0 hits, 0 misses, 0 stored, [1-9]\d* errors?/, stats.stdout);
  } finally {
    removeProject(dir);
  }
}

needsRedis(`Redis stopped before the build: success with one warning${suffix}`, async () => {
  const redis = await startRedis();
  await redis.kill();
  await buildWithRemote(redis.url, 'stopped');
});

test('nothing listening on the shared cache’s port: success with one warning', async () => {
  await buildWithRemote(`redis://127.0.0.1:${await freePort()}`, 'nothing');
});

test('a server that accepts and never answers: success with one warning, no hang', async () => {
  const silent = await startSilentServer();
  try {
    await buildWithRemote(silent.url, 'silent', '500ms');
  } finally {
    await silent.close();
  }
});

needsRedis(`Redis killed mid-build: success with one warning, outputs whole${suffix}`, async () => {
  const redis = await startRedis();
  // tasks take a little while, so the kill lands with most of the build still to come
  const dir = smallProject(`  remote:\n    url: ${redis.url}\n    timeout: 1s\n`, 12, 'sleep 0.2 && ');
  try {
    const child = spawnUet(dir, ['build', '--json', '-j', '2'], { env: { MODE: 'mid' } });
    const done = collect(child, 60_000);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (c: Buffer | string) => {
        out += c.toString();
        if (out.includes('"op":"store"')) resolve();
      });
      child.on('exit', () => resolve());
    });
    await redis.kill();
    const r = await done;
    assert.is(r.code, 0, r.stderr);
    const w = warningsOf(r.stdout);
    assert.is(w.length, 1, w.join(' | '));
    assertSmallOutputs(dir, 'mid', 12);
    assert.ok(parseEvents(r.stdout).some((e) => e['type'] === 'cache' && e['op'] === 'store'), 'something was stored before the kill');
  } finally {
    await redis.kill();
    removeProject(dir);
  }
});

test('ten pairs of concurrent builds on one project serialise, no corruption', async () => {
  const dir = smallProject('', 6);
  try {
    for (let pair = 1; pair <= 10; pair++) {
      const mode = `pair${pair % 3}`; // modes repeat, so later pairs restore from the cache too
      const [a, b] = await Promise.all([runUet(dir, ['build', '--json'], { env: { MODE: mode } }), runUet(dir, ['build', '--json'], { env: { MODE: mode } })]);
      assert.is(a.code, 0, a.stderr);
      assert.is(b.code, 0, b.stderr);
      assertSmallOutputs(dir, mode, 6);
      // serialised: one run ended before the other's first task (run-start is stamped before the lock is taken)
      const span = (stdout: string): [number, number] => {
        const evs = parseEvents(stdout);
        const first = evs.find((e) => e['type'] === 'task-start' || e['type'] === 'task-end')!;
        const end = evs.find((e) => e['type'] === 'run-end')!;
        return [Number(first['at']), Number(end['at'])];
      };
      const [sa, ea] = span(a.stdout);
      const [sb, eb] = span(b.stdout);
      assert.ok(ea <= sb || eb <= sa, `pair ${pair}: runs overlapped (${sa}-${ea} and ${sb}-${eb})`);
    }
    const verify = await runUet(dir, ['cache', 'verify']);
    assert.match(verify.stdout, /0 corrupt blobs removed, 0 entries/);
  } finally {
    removeProject(dir);
  }
});

test('a cache folder that cannot be written (even by root): the build succeeds and says the cache was not written', async () => {
  // Root ignores permission bits, so chmod cannot make a folder read-only here. Instead the
  // cache folder's parent is a regular FILE: every mkdir/open under it fails with ENOTDIR for
  // any user, the same way a full or read-only disk fails a write.
  const dir = smallProject('', 3);
  try {
    writeText(dir, 'uet.config.yaml', `version: 1\nproject: small\nenv:\n  hash: [MODE]\ncache:\n  dir: blocked/cache\n`);
    writeText(dir, 'blocked', 'a file where the cache folder’s parent should be\n');
    const r = await runUet(dir, ['build'], { env: { MODE: 'ro' } });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: cache error for p\/w\/t0: cache not written: io/);
    assertSmallOutputs(dir, 'ro', 3);
    assert.is(readText(dir, 'blocked'), 'a file where the cache folder’s parent should be\n');
    const again = await runUet(dir, ['build'], { env: { MODE: 'ro' } });
    assert.is(again.code, 0, 'fresh without a cache');
  } finally {
    removeProject(dir);
  }
});


test.run();
