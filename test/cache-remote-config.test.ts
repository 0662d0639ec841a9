/** Where the shared cache's settings come from (pure): the config file, UET_REMOTE_CACHE, defaults. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveRemote } from '../lib/cache/open.js';
import { redact } from '../lib/cache/tiered.js';

const FILE = { url: 'redis://file:6379', read: true, write: false, timeout: 500 };

test('no url anywhere: no shared cache', () => {
  assert.equal(resolveRemote(undefined, {}), { ok: true, value: undefined });
});

test('the file’s url and flags', () => {
  assert.equal(resolveRemote(FILE, {}), { ok: true, value: FILE });
});

test('UET_REMOTE_CACHE wins over the file’s url; the file’s flags stay', () => {
  assert.equal(resolveRemote(FILE, { UET_REMOTE_CACHE: 'rediss://fleet:6380/2' }), { ok: true, value: { ...FILE, url: 'rediss://fleet:6380/2' } });
});

test('UET_REMOTE_CACHE alone: read, write, 2 s', () => {
  assert.equal(resolveRemote(undefined, { UET_REMOTE_CACHE: 'redis://h:1' }), { ok: true, value: { url: 'redis://h:1', read: true, write: true, timeout: 2000 } });
});

test('an empty UET_REMOTE_CACHE turns the file’s shared cache off', () => {
  assert.equal(resolveRemote(FILE, { UET_REMOTE_CACHE: '' }), { ok: true, value: undefined });
});

test('a url that is not redis:// or rediss:// is refused, naming where it came from', () => {
  const r = resolveRemote(undefined, { UET_REMOTE_CACHE: 'http://h:1' });
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.error, /UET_REMOTE_CACHE must be a redis:\/\/ or rediss:\/\/ URL, not 'http:\/\/h:1'/);
});

test('passwords never reach a message', () => {
  assert.is(redact('redis://user:s3cret@h:6379/0'), 'redis://user:***@h:6379/0');
  assert.is(redact('redis://h:6379'), 'redis://h:6379');
});

test.run();
