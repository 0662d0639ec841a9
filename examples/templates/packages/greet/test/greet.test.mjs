import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greet } from '../dist/index.js';

test('greet', () => assert.equal(greet('uet'), 'hello, uet'));
