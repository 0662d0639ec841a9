/** The fast path's run ids (lib/util/run-id.ts): ULIDs, as the ulid package reads them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeTime } from 'ulid';
import { runId } from '../lib/util/run-id.js';

test('runId: a ULID of the given time, in Crockford base32; later ids sort later; two at once differ', () => {
  const at = Date.UTC(2026, 10, 27, 12, 0, 0, 123);
  const id = runId(at);
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.is(decodeTime(id), at);
  assert.is(decodeTime(runId(0)), 0);
  const later = runId(at + 1);
  assert.ok(later > id, `${later} sorts after ${id}`);
  const ids = new Set(Array.from({ length: 1000 }, () => runId(at)));
  assert.is(ids.size, 1000, 'random parts differ');
});

test('runId with node:crypto\'s randomFillSync: the same shape, the given bytes', async () => {
  const { randomFillSync } = await import('node:crypto');
  const id = runId(5, randomFillSync);
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.is(decodeTime(id), 5);
  assert.is(runId(5, (b) => b.fill(0)), '0000000005' + '0'.repeat(16), 'the random part is the fill\'s');
  assert.is(runId(5, (b) => b.fill(31)).slice(10), 'Z'.repeat(16));
});

test.run();
