/**
 * The bounded local cache through the real CLI: least-recently-used pruning after a build
 * (never what the build itself restored or stored), max_age, `uet cache prune|verify|clear`.
 * Each task writes 100 KB whose bytes depend on MODE (hashed into every key), so each MODE
 * is a separate set of cache entries.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { countLines, makeProject, removeProject, runUet, writeText } from './helpers/project.js';

function project(cache: string): string {
  return makeProject({
    'uet.config.yaml': `version: 1\nproject: bounds\nenv:\n  hash: [MODE]\ncache:\n${cache}`,
    'src/seed.txt': 'seed\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
${['x', 'y', 'z']
  .map(
    (t) => `      - id: ${t}
        run: echo ${t} >> runs.log && mkdir -p out && node -e "require('fs').writeFileSync('out/${t}.bin', Buffer.alloc(100*1024, process.env.MODE + '${t}'))"
        inputs: [src/seed.txt]
        outputs: [out/${t}.bin]
`,
  )
  .join('')}`,
  });
}

async function build(dir: string, mode: string): Promise<number> {
  fs.rmSync(path.join(dir, 'runs.log'), { force: true });
  // clean first, so nothing is fresh: every task is restored from the cache or runs
  assert.is((await runUet(dir, ['clean'])).code, 0);
  const r = await runUet(dir, ['build'], { env: { MODE: mode } });
  assert.is(r.code, 0, r.stderr);
  return countLines(dir, 'runs.log');
}

function cacheFiles(dir: string): string[] {
  const root = path.join(dir, 'cache', 'content-v2');
  return fs.existsSync(root) ? (fs.readdirSync(root, { recursive: true }) as string[]).map((f) => path.join(root, f)).filter((f) => fs.statSync(f).isFile()) : [];
}

test('past max_size the least recently used entries go, never those of the current build', async () => {
  // 1KB: smaller than one build's entries; only what the build itself used survives
  const dir = project('  max_size: 1KB\n');
  try {
    assert.is(await build(dir, '1'), 3);
    assert.is(await build(dir, '1'), 0, 'the entries the build stored were kept despite the limit');
    assert.is(await build(dir, '2'), 3);
    const stats = await runUet(dir, ['cache', 'stats']);
    assert.match(stats.stdout, /pruned: 3 entries/, stats.stdout);
    assert.is(await build(dir, '1'), 3, 'MODE=1 was least recently used and pruned');
  } finally {
    removeProject(dir);
  }
});

test('under max_size nothing is pruned; uet cache prune applies a lowered limit', async () => {
  const dir = project('  max_size: 10MB\n');
  try {
    assert.is(await build(dir, '1'), 3);
    assert.is(await build(dir, '2'), 3);
    assert.is(await build(dir, '1'), 0, 'both modes fit: MODE=1 restored');
    writeText(dir, 'uet.config.yaml', `version: 1\nproject: bounds\nenv:\n  hash: [MODE]\ncache:\n  max_size: 350KB\n`);
    const pruned = await runUet(dir, ['cache', 'prune']);
    assert.is(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /removed 3 entries and 3 blobs .* kept 3/);
    assert.is(await build(dir, '1'), 0, 'MODE=1 was used last, so it stayed');
    assert.is(await build(dir, '2'), 3, 'MODE=2 was pruned');
  } finally {
    removeProject(dir);
  }
});

test('under max_size a build adds to the size estimate instead of listing the cache; past it, it prunes', async () => {
  const dir = project('  max_size: 700KB\n');
  const pruned = async (mode: string): Promise<boolean> => {
    fs.rmSync(path.join(dir, 'runs.log'), { force: true });
    assert.is((await runUet(dir, ['clean'])).code, 0);
    const r = await runUet(dir, ['build', '--json'], { env: { MODE: mode } });
    assert.is(r.code, 0, r.stderr);
    const stats = r.stdout.split('\n').filter((l) => l.includes('"cache-stats"'));
    assert.is(stats.length, 1, r.stdout);
    return stats[0]!.includes('"pruned"');
  };
  const usage = (): { bytes: number } => JSON.parse(fs.readFileSync(path.join(dir, 'cache', 'usage.json'), 'utf8')) as { bytes: number };
  try {
    assert.not.ok(await pruned('1'), 'the cache was empty: its size is what the first build stored, without listing it');
    const estimated = usage().bytes;
    assert.ok(estimated >= 3 * 100 * 1024, `estimated ${estimated}`);
    fs.rmSync(path.join(dir, 'cache', 'usage.json'));
    assert.ok(await pruned('1'), 'no estimate for a cache that has entries: the build counts');
    const counted = usage().bytes;
    assert.is(counted, estimated, 'the count is what the empty cache was estimated at');
    assert.not.ok(await pruned('1'), 'restoring adds nothing');
    assert.not.ok(await pruned('2'), 'MODE=2 adds 300 KB: 600 KB, under 700 KB');
    assert.ok(usage().bytes >= counted + 3 * 100 * 1024, 'what it stored was added to the estimate');
    assert.ok(await pruned('3'), 'MODE=3 would make 900 KB: prune');
    assert.ok(usage().bytes <= 700 * 1024, 'the estimate restarts from the count');
  } finally {
    removeProject(dir);
  }
});

test('max_age prunes entries unused for longer', async () => {
  const dir = project('  max_age: 1s\n');
  try {
    assert.is(await build(dir, '1'), 3);
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(await build(dir, '2'), 3);
    assert.is(await build(dir, '1'), 3, 'MODE=1 had not been used for over 1s');
  } finally {
    removeProject(dir);
  }
});

test('uet cache verify removes a corrupt blob and the entry needing it; clear empties the cache', async () => {
  const dir = project('  dir: cache\n');
  try {
    assert.is(await build(dir, '1'), 3);
    const blob = cacheFiles(dir).find((f) => fs.statSync(f).size === 100 * 1024);
    assert.ok(blob, 'a 100 KB blob is in the cache');
    fs.chmodSync(blob!, 0o644);
    const bytes = fs.readFileSync(blob!);
    bytes[500] = bytes[500]! ^ 0xff;
    fs.writeFileSync(blob!, bytes);
    const v = await runUet(dir, ['cache', 'verify']);
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /1 corrupt blob removed, 1 entry that needed them removed/);
    assert.is(await build(dir, '1'), 1, 'only the task whose blob was corrupt runs again');
    const again = await runUet(dir, ['cache', 'verify']);
    assert.match(again.stdout, /0 corrupt blobs removed, 0 entries/);
    const c = await runUet(dir, ['cache', 'clear']);
    assert.is(c.code, 0, c.stderr);
    assert.is(await build(dir, '1'), 3);
  } finally {
    removeProject(dir);
  }
});

test('uet cache stats before any run, and with no shared cache', async () => {
  const dir = project('  dir: cache\n');
  try {
    const none = await runUet(dir, ['cache', 'stats']);
    assert.is(none.code, 0);
    assert.match(none.stdout, /no cache figures/);
    assert.is(await build(dir, '1'), 3);
    const s = await runUet(dir, ['cache', 'stats']);
    assert.match(s.stdout, /local:\s+0 hits, 3 misses\nremote: none configured/);
    const j = await runUet(dir, ['cache', 'stats', '--json']);
    const ev = JSON.parse(j.stdout) as { type: string; local: { misses: number } };
    assert.is(ev.type, 'cache-stats');
    assert.is(ev.local.misses, 3);
  } finally {
    removeProject(dir);
  }
});

test.run();
