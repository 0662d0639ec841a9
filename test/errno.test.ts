import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errnoCode } from '../lib/util/errno.js';

test("a failed system call's code is read; anything else thrown has none", () => {
  let thrown: unknown;
  try {
    fs.readFileSync('/no/such/file/anywhere');
  } catch (e) {
    thrown = e;
  }
  assert.is(errnoCode(thrown), 'ENOENT');
  assert.is(errnoCode(Object.assign(new Error('x'), { code: 'EEXIST' })), 'EEXIST');
  assert.is(errnoCode(new Error('no code')), undefined);
  assert.is(errnoCode({ code: 17 }), undefined);
  for (const v of [undefined, null, 'ENOENT', 2]) assert.is(errnoCode(v), undefined);
});

test.run();
