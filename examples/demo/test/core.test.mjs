// phase-2/core/test (runtime): tests the built core modules.
// DEMO_FAIL=1 switches on a failing check (DEMO_FAIL is hashed into this task's key).
import assert from 'node:assert/strict';
import { add, sum } from '../dist/core/math.mjs';
import { greet, slug } from '../dist/core/strings.mjs';

assert.equal(add(2, 3), 5);
assert.equal(sum([1, 2, 3, 4]), 10);
assert.equal(sum([]), 0);
assert.equal(greet('Hello', 'demo'), 'Hello, demo!');
assert.equal(slug('  Hello, World! '), 'hello-world');
if (process.env.DEMO_FAIL === '1') {
  console.error('core: failing on purpose because DEMO_FAIL=1');
  process.exit(1);
}
console.log('core: 5 checks passed');
