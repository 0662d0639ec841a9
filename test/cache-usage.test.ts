/** When a build prunes the local cache: the size estimate's rule (lib/cache/usage.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pruneDue, readUsage, writeUsage } from '../lib/cache/usage.js';

const H = 60 * 60 * 1000;
const T = 1_800_000_000_000;

test('no estimate: prune (and count)', () => {
  assert.ok(pruneDue(undefined, 0, { maxSize: 100 }, T));
});

test('the estimate plus what this build stored past max_size: prune; under it: not', () => {
  const u = { bytes: 60, prunedAt: T - H };
  assert.not.ok(pruneDue(u, 40, { maxSize: 100 }, T));
  assert.ok(pruneDue(u, 41, { maxSize: 100 }, T));
});

test('a quarter of max_age since the last prune, or a day, or a clock gone backwards: prune', () => {
  const u = { bytes: 0, prunedAt: T - 3 * H };
  assert.not.ok(pruneDue(u, 0, { maxSize: 100, maxAge: 16 * H }, T));
  assert.ok(pruneDue(u, 0, { maxSize: 100, maxAge: 12 * H }, T));
  assert.ok(pruneDue({ bytes: 0, prunedAt: T - 24 * H }, 0, { maxSize: 100 }, T));
  assert.ok(pruneDue({ bytes: 0, prunedAt: T + H }, 0, { maxSize: 100 }, T));
});

test('the estimate round-trips; a damaged file is no estimate', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-usage-'));
  try {
    assert.is(readUsage(dir), undefined);
    writeUsage(dir, { bytes: 42, prunedAt: T });
    assert.equal(readUsage(dir), { bytes: 42, prunedAt: T });
    fs.writeFileSync(path.join(dir, 'usage.json'), '{"bytes":"x"}');
    assert.is(readUsage(dir), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
