/** The fast path's run ids (lib/util/run-id.ts): ULIDs, as the ulid package reads them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeTime } from 'ulid';
import { randomFillFrom, runId } from '../lib/util/run-id.js';

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

test('the default random bytes come from /dev/urandom; where it cannot be read, from Web Crypto', () => {
  const fromDevice = randomFillFrom('/dev/urandom');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(Buffer.from(fromDevice(new Uint8Array(16))).toString('hex'));
  assert.is(seen.size, 200, 'random');
  // a "device" of known bytes: they are what is read
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-run-id-'));
  const known = path.join(dir, 'bytes');
  fs.writeFileSync(known, Buffer.alloc(16, 0x21));
  assert.is(runId(0, randomFillFrom(known)).slice(10), '1'.repeat(16), 'the low five bits of 0x21');
  // too short, or absent: Web Crypto's bytes
  fs.writeFileSync(known, Buffer.alloc(3, 0x21));
  for (const fill of [randomFillFrom(known), randomFillFrom(path.join(dir, 'none'))]) {
    const ids = new Set(Array.from({ length: 50 }, () => runId(0, fill)));
    assert.is(ids.size, 50);
    for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const ids = new Set(Array.from({ length: 1000 }, () => runId(5)));
  assert.is(ids.size, 1000, 'the default');
});

test.run();
