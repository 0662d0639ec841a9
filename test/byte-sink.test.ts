/** ByteSink (lib/util/byte-sink.ts): the UTF-8 bytes of what was written, in order, across growth. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteSink } from '../lib/util/byte-sink.js';

test('many writes past the first buffer come out as one UTF-8 text, in order', () => {
  const sink = new ByteSink(16);
  const pieces: string[] = [];
  for (let i = 0; i < 500; i++) pieces.push(i % 7 === 0 ? `ünï ${i} 𝄞 ` : `row ${i},`);
  for (const p of pieces) sink.write(p);
  const expected = Buffer.from(pieces.join(''), 'utf8');
  assert.is(sink.length, expected.length);
  assert.ok(sink.bytes().equals(expected));
});

test('a single write larger than twice the buffer, and empty writes', () => {
  const sink = new ByteSink(16);
  sink.write('');
  const big = 'x'.repeat(1000) + 'é';
  sink.write(big);
  sink.write('');
  assert.is(sink.bytes().toString('utf8'), big);
  assert.is(sink.length, 1002);
});

test('nothing written: no bytes', () => {
  assert.is(new ByteSink().bytes().length, 0);
});

test.run();
