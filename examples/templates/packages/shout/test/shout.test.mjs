import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shout } from '../dist/index.js';

test('shout', () => assert.equal(shout('hi'), 'HI!'));
