/**
 * Keyv's text format written and read by V8's JSON (lib/cache/keyv-json.ts): the same bytes as
 * Keyv's own serializer, and the same values back as its deserializer, whichever wrote them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';
import { deserializeKeyvJson, serializeKeyvJson } from '../lib/cache/keyv-json.js';

const entry = {
  value: {
    formatVersion: 3,
    key: 'a'.repeat(64),
    taskId: 'build/app/compile',
    outputs: [{ path: 'out/app.js', hash: 'b'.repeat(64), size: 78, mode: 0o644 }],
    logHash: 'e'.repeat(64),
    createdAt: 1795826003212,
    inline: { ['b'.repeat(64)]: Buffer.from('console.log(1)\n').toString('base64') },
  },
  expires: undefined,
};

/** values that take each way, and strings that look like the marks the fast way looks for */
const values: unknown[] = [
  entry,
  { value: ':starts with a colon', expires: 5 },
  { value: [':x', 'y', ':z'] },
  { value: { a: [1, { b: '::c' }] } },
  { value: { 'k:': ':', ':key': 'v', 'x": ': '[":', ',":': 'a,":b' } },
  { value: 'a\\":b and a "quoted": ", ":" ' },
  { value: { path: 'out/:odd.txt', hash: ':base64:not a buffer' } },
  { value: { data: Buffer.from('bytes') } },
  { value: { when: new Date(0), n: Number.NaN, z: -0, u: undefined, t: true, nil: null } },
  { value: { type: 'Buffer', data: [1, 2] } },
  { value: { bytes: new Uint8Array([1, 2, 3]) } },
  ':top',
  'plain',
  42,
  null,
  undefined,
  [],
  [undefined, null, ':'],
];

test('serializeKeyvJson writes the bytes Keyv writes', () => {
  for (const v of values) assert.is(serializeKeyvJson(v), defaultSerialize(v as never), JSON.stringify(String(v)));
});

test('deserializeKeyvJson reads what Keyv wrote as Keyv reads it, and what it wrote itself', () => {
  for (const v of values) {
    const text = defaultSerialize(v as never);
    assert.equal(deserializeKeyvJson(text), defaultDeserialize(text), text);
    assert.equal(deserializeKeyvJson(serializeKeyvJson(v)), defaultDeserialize(text), text);
  }
  // escaped by Keyv: read back as the string it was
  assert.equal(deserializeKeyvJson<{ value: string[] }>(defaultSerialize({ value: [':x', '::y'] } as never)).value, [':x', '::y']);
  assert.equal(deserializeKeyvJson<{ value: { p: string } }>(defaultSerialize({ value: { p: ':odd' } } as never)).value.p, ':odd');
});

test('a cache entry takes the fast way both ways: JSON.stringify\'s text, JSON.parse\'s value', () => {
  const text = serializeKeyvJson(entry);
  assert.is(text, JSON.stringify(entry));
  assert.equal(deserializeKeyvJson(text), JSON.parse(text));
});

test.run();
