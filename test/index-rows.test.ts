/** The stat index's sorted rows, looked up in place (lib/hash/index-rows.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareQuoted, quotedPath, SortedRows } from '../lib/hash/index-rows.js';

const HASH = 'a'.repeat(64);
const rowOf = (p: string, size = 1): string => `[${quotedPath(p)},${size},"1","1","1",420,"${HASH}"]`;

/** the rows' text as the index writes it: sorted by quoted path, comma-separated */
function bodyOf(paths: readonly string[]): string {
  return [...paths]
    .sort((a, b) => compareQuoted(quotedPath(a), quotedPath(b)))
    .map((p, i) => rowOf(p, i))
    .join(',');
}

const ODD = ['quote".txt', 'back\\slash.txt', 'brackets"],[".txt', 'ünï.txt', 'tab\t.txt', 'a', 'z/z/z', '"', '\\'];
const MANY = [...ODD, ...Array.from({ length: 500 }, (_, i) => `src/${(i * 7919) % 1000}/f${i}.ts`)];

test('every row is found, whatever its place and however its path is quoted', () => {
  const rows = new SortedRows(bodyOf(MANY));
  for (const p of MANY) {
    const row = rows.find(p);
    assert.ok(row, `not found: ${JSON.stringify(p)}`);
    assert.is((JSON.parse(row) as unknown[])[0], p);
  }
});

test('paths without a row are not found: before the first, after the last, in between', () => {
  const rows = new SortedRows(bodyOf(MANY));
  for (const p of ['', ' ', '!', 'src/0', 'src/999/f9999.ts', 'zzzz', '~', 'quote', 'src/7/f1.ts ', '\u{10ffff}']) assert.is(rows.find(p), undefined, JSON.stringify(p));
  assert.is(new SortedRows('').find('a'), undefined);
  assert.equal([...new SortedRows('').rows()], []);
});

test('one row, and two', () => {
  assert.ok(new SortedRows(bodyOf(['only'])).find('only'));
  const two = new SortedRows(bodyOf(['b', 'a']));
  assert.ok(two.find('a'));
  assert.ok(two.find('b'));
  assert.is(two.find('c'), undefined);
});

test('rows() gives every row in file order, with its quoted path; one that does not start with a path has none', () => {
  const body = bodyOf(['a', 'b', 'c']).replace('["a"', '[17');
  assert.equal(
    [...new SortedRows(body).rows()].map((r) => r.quoted),
    [undefined, '"b"', '"c"'],
  );
});

test('a row whose path cannot be read does not hide the others', () => {
  const sorted = [...MANY].sort((a, b) => compareQuoted(quotedPath(a), quotedPath(b)));
  const first = sorted[0]!;
  const rows = new SortedRows(bodyOf(MANY).replace(`[${quotedPath(first)},`, '[17,'));
  assert.is(rows.find(first), undefined);
  for (const p of sorted.slice(1)) assert.ok(rows.find(p), `not found: ${JSON.stringify(p)}`);
});

test.run();
