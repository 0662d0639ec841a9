/**
 * The shared cache through the real CLI and a real redis-server: two separate checkouts
 * ("machines") of one project share a Redis; read-only machines; UET_REMOTE_CACHE; a
 * shared cache answering garbage. Which tasks ran is read from a file the tasks append to.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { countLines, makeProject, parseEvents, readText, removeProject, runUet, withProject } from './helpers/project.js';
import { REDIS_REQUIRED, REDIS_SKIP_REASON, redisCommand, sharedRedis } from './helpers/redis.js';
import { CACHE_FORMAT_VERSION } from '../lib/cache/types.js';

/** where keyv puts uet's keys in Redis (lib/cache/remote.ts) */
const NS = `uet-v${CACHE_FORMAT_VERSION}::uet-v${CACHE_FORMAT_VERSION}:`;

const TASKS = ['a', 'b', 'c', 'd', 'e'];

/** a project whose content is unique to this call (salt), so tests sharing one Redis never meet */
function machineFiles(salt: string, remote: string, input = `input ${salt}\n`): Record<string, string> {
  return {
    'uet.config.yaml': `version: 1\nproject: shared\ncache:\n  dir: cache\n${remote}`,
    'src/in.txt': input,
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
${TASKS.map(
  (t) => `      - id: ${t}
        run: echo ${t} >> runs.log && mkdir -p out && cat src/in.txt > out/${t}.txt && echo ${t} >> out/${t}.txt
        inputs: [src/in.txt]
        outputs: [out/${t}.txt]
`,
).join('')}      - id: big
        run: echo big >> runs.log && mkdir -p out && node -e "require('fs').writeFileSync('out/big.bin', require('crypto').randomBytes(3*1024*1024+7))"
        inputs: [src/in.txt]
        outputs: [out/big.bin]
`,
  };
}

function sha(dir: string, rel: string): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dir, rel))).digest('hex');
}

function warnings(stdout: string): string[] {
  return parseEvents(stdout)
    .filter((e) => e['type'] === 'warning')
    .map((e) => String(e['message']));
}

const needsRedis = REDIS_SKIP_REASON === undefined || REDIS_REQUIRED ? test : test.skip;
const suffix = REDIS_SKIP_REASON === undefined || REDIS_REQUIRED ? '' : ` [${REDIS_SKIP_REASON}]`;

needsRedis(`two checkouts share one Redis: the second builds nothing and restores everything, blobs chunked${suffix}`, async () => {
  const redis = await sharedRedis();
  const salt = randomBytes(8).toString('hex');
  const remote = `  remote:\n    url: ${redis.url}\n`;
  const m1 = makeProject(machineFiles(salt, remote));
  const m2 = makeProject(machineFiles(salt, remote));
  try {
    const first = await runUet(m1, ['build', '--json']);
    assert.is(first.code, 0, first.stderr);
    assert.is(countLines(m1, 'runs.log'), 6);
    assert.equal(warnings(first.stdout), []);

    const second = await runUet(m2, ['build', '--json']);
    assert.is(second.code, 0, second.stderr);
    assert.is(countLines(m2, 'runs.log'), 0, 'the second machine ran nothing');
    for (const t of TASKS) assert.is(readText(m2, `out/${t}.txt`), readText(m1, `out/${t}.txt`));
    assert.is(sha(m2, 'out/big.bin'), sha(m1, 'out/big.bin'), 'a 3 MB output (4 chunks) arrives whole');
    assert.is(fs.statSync(path.join(m2, 'out/big.bin')).size, 3 * 1024 * 1024 + 7);

    const stats = await runUet(m2, ['cache', 'stats']);
    assert.is(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /local:\s+0 hits, 6 misses/);
    assert.match(stats.stdout, /remote: 6 hits, 0 misses/);

    // third build on machine 2: all fresh, no cache traffic
    const third = await runUet(m2, ['build', '--json']);
    assert.is(third.code, 0);
    assert.is(countLines(m2, 'runs.log'), 0);
  } finally {
    removeProject(m1);
    removeProject(m2);
    await redis.stop();
  }
});

needsRedis(`UET_REMOTE_CACHE supplies the URL; write: false machines read but never store${suffix}`, async () => {
  const redis = await sharedRedis();
  const salt = randomBytes(8).toString('hex');
  const readOnly = machineFiles(salt, '  remote:\n    write: false\n');
  const env = { UET_REMOTE_CACHE: redis.url };
  const ci1 = makeProject(readOnly);
  const ci2 = makeProject(readOnly);
  const dev = makeProject(machineFiles(salt, ''));
  const ci3 = makeProject(readOnly);
  try {
    assert.is((await runUet(ci1, ['build'], { env })).code, 0);
    assert.is(countLines(ci1, 'runs.log'), 6);
    assert.is((await runUet(ci2, ['build'], { env })).code, 0);
    assert.is(countLines(ci2, 'runs.log'), 6, 'a read-only machine stored nothing for the next one');
    // a developer machine (no remote in its config, the URL from the environment) writes
    assert.is((await runUet(dev, ['build'], { env })).code, 0);
    assert.is((await runUet(ci3, ['build'], { env })).code, 0);
    assert.is(countLines(ci3, 'runs.log'), 0, 'a read-only machine restores what another stored');
    // an empty UET_REMOTE_CACHE turns the shared cache off
    await withProject(readOnly, async (off) => {
      assert.is((await runUet(off, ['build'], { env: { UET_REMOTE_CACHE: '' } })).code, 0);
      assert.is(countLines(off, 'runs.log'), 6);
    });
  } finally {
    for (const d of [ci1, ci2, dev, ci3]) removeProject(d);
    await redis.stop();
  }
});

needsRedis(`a shared cache answering garbage: one warning, those tasks run locally, no wrong byte${suffix}`, async () => {
  const redis = await sharedRedis();
  const port = Number(new URL(redis.url).port);
  const salt = randomBytes(8).toString('hex');
  const remote = `  remote:\n    url: ${redis.url}\n`;
  // outputs of 5 KB: blobs in the shared cache, not bytes kept in their entries
  const input = `input ${salt}\n${'-'.repeat(5000)}\n`;
  const m1 = makeProject(machineFiles(salt, remote, input));
  const m2 = makeProject(machineFiles(salt, remote, input));
  try {
    assert.is((await runUet(m1, ['build'])).code, 0);
    // three kinds of garbage: a chunk that is not JSON, a chunk with the wrong bytes, a blob record that lies about its size
    const chunkKey = (rel: string): string => `${NS}chunk:${sha(m1, rel)}:0`;
    assert.match(await redisCommand(port, 'SET', chunkKey('out/a.txt'), 'not json at all'), /^\+OK/);
    assert.match(await redisCommand(port, 'SET', chunkKey('out/b.txt'), JSON.stringify({ value: `:base64:${Buffer.from('input evil\nb\n').toString('base64')}`, expires: null })), /^\+OK/);
    assert.match(await redisCommand(port, 'SET', `${NS}blob:${sha(m1, 'out/c.txt')}`, JSON.stringify({ value: { size: 1, chunks: 1 }, expires: null })), /^\+OK/);

    const r = await runUet(m2, ['build', '--json']);
    assert.is(r.code, 0, r.stderr);
    const w = warnings(r.stdout);
    assert.is(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /shared cache .* answered with data uet did not store/);
    const ran = readText(m2, 'runs.log').split('\n').filter(Boolean).sort();
    assert.equal(ran, ['a', 'b', 'c']);
    for (const t of TASKS) assert.is(readText(m2, `out/${t}.txt`), `${input}${t}\n`);
    assert.is(sha(m2, 'out/big.bin'), sha(m1, 'out/big.bin'));
  } finally {
    removeProject(m1);
    removeProject(m2);
    await redis.stop();
  }
});

needsRedis(`a shared entry whose kept bytes were tampered with is refused: the task runs locally${suffix}`, async () => {
  const redis = await sharedRedis();
  const port = Number(new URL(redis.url).port);
  const salt = randomBytes(8).toString('hex');
  const remote = `  remote:\n    url: ${redis.url}\n`;
  const m1 = makeProject(machineFiles(salt, remote));
  const m2 = makeProject(machineFiles(salt, remote));
  try {
    assert.is((await runUet(m1, ['build'])).code, 0);
    // d's output is small: its bytes travel inside d's entry, which is rewritten with others
    const line = readText(m1, '.uet/fresh.log').split('\n').find((l) => l.includes('"p/w/d"'));
    assert.ok(line, 'd has a recorded success');
    const entryKey = `${NS}entry:${(JSON.parse(line) as { k: string }).k}`;
    const reply = await redisCommand(port, 'GET', entryKey);
    const stored = JSON.parse(reply.slice(reply.indexOf('\r\n') + 2, -2)) as { value: { inline: Record<string, string> } };
    const hash = sha(m1, 'out/d.txt');
    assert.ok(stored.value.inline[hash], 'd\'s output is kept in its entry');
    stored.value.inline[hash] = Buffer.from(`input evil\nd\n`).toString('base64');
    assert.match(await redisCommand(port, 'SET', entryKey, JSON.stringify(stored)), /^\+OK/);

    const r = await runUet(m2, ['build', '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(readText(m2, 'runs.log').split('\n').filter(Boolean), ['d']);
    assert.is(readText(m2, 'out/d.txt'), `input ${salt}\nd\n`);
    assert.match(warnings(r.stdout).join('\n'), /shared cache .* answered with data uet did not store/);
  } finally {
    removeProject(m1);
    removeProject(m2);
    await redis.stop();
  }
});

test.run();
