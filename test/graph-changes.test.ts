/**
 * sameExcept, which decides whether a task's compiled definition changed (lib/graph/graph-changes.ts):
 * what it must treat as the same (key order, source locations, undefined fields) and what not.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sameExcept } from '../lib/graph/graph-changes.js';

const NONE = new Set<string>();
const loc = (line: number) => ({ file: 'phases/p.yaml', line, col: 7 });

test('the same fields in another order, at another place in the file, are the same definition', () => {
  const a = { id: 't', run: 'make', env: { pass: ['PATH'], hash: [] }, loc: loc(3) };
  const b = { loc: loc(9), env: { hash: [], pass: ['PATH'] }, run: 'make', id: 't' };
  assert.ok(sameExcept(a, b, new Set(['loc'])));
  // locations deeper down (a gate's dependency references) are ignored too
  assert.ok(sameExcept({ dependsOn: [{ raw: 'a', loc: loc(1) }] }, { dependsOn: [{ raw: 'a', loc: loc(2) }] }, NONE));
  // a field set to undefined is a field JSON does not write
  assert.ok(sameExcept({ run: 'make', timeout: undefined }, { run: 'make' }, NONE));
});

test('a changed value, a field added or removed, or an array reordered is a different definition', () => {
  const a = { id: 't', run: 'make', inputs: ['a', 'b'] };
  assert.not.ok(sameExcept(a, { ...a, run: 'make all' }, NONE));
  assert.not.ok(sameExcept(a, { ...a, timeout: 1000 }, NONE));
  assert.not.ok(sameExcept({ ...a, timeout: 1000 }, a, NONE));
  assert.not.ok(sameExcept(a, { ...a, inputs: ['b', 'a'] }, NONE));
  assert.not.ok(sameExcept(a, { ...a, inputs: ['a'] }, NONE));
  assert.not.ok(sameExcept({ env: { hash: ['X'] } }, { env: { hash: ['Y'] } }, NONE));
  assert.not.ok(sameExcept([1], { 0: 1 }, NONE));
  assert.not.ok(sameExcept(null, {}, NONE));
  // only the top level ignores what it is told to: a nested field of that name still counts
  assert.not.ok(sameExcept({ tasks: 1, x: { tasks: 1 } }, { tasks: 2, x: { tasks: 2 } }, new Set(['tasks'])));
  assert.ok(sameExcept({ tasks: 1, x: { tasks: 1 } }, { tasks: 2, x: { tasks: 1 } }, new Set(['tasks'])));
});

test.run();
