import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { transition, type BreakerRecord } from '../lib/build/breaker.js';
import { retryDelay } from '../lib/build/runner.js';

const cfg = { failureThreshold: 3, cooldown: 1000 };
const closed: BreakerRecord = { state: 'closed', failures: 0, openedAt: 0 };

test('closed: failures count up and open the breaker at the threshold; a success resets', () => {
  let r = transition(closed, 'failure', cfg, 10);
  r = transition(r, 'failure', cfg, 20);
  assert.equal(r, { state: 'closed', failures: 2, openedAt: 0 });
  assert.equal(transition(r, 'success', cfg, 25), closed);
  assert.equal(transition(r, 'failure', cfg, 30), { state: 'open', failures: 3, openedAt: 30 });
});

test('open: a probe half-opens; stray results change nothing', () => {
  const open: BreakerRecord = { state: 'open', failures: 3, openedAt: 30 };
  assert.is(transition(open, 'failure', cfg, 40), open);
  assert.is(transition(open, 'success', cfg, 40), open);
  assert.equal(transition(open, 'probe', cfg, 2000), { state: 'half-open', failures: 3, openedAt: 30 });
});

test('half-open: the probe decides', () => {
  const half: BreakerRecord = { state: 'half-open', failures: 3, openedAt: 30 };
  assert.equal(transition(half, 'success', cfg, 2000), closed);
  assert.equal(transition(half, 'failure', cfg, 2000), { state: 'open', failures: 3, openedAt: 2000 });
  assert.throws(() => transition(half, 'probe', cfg, 2000));
  assert.throws(() => transition(closed, 'probe', cfg, 2000));
});

test('retry delay doubles per attempt, is capped at 60 s, and jitters within [50 %, 100 %]', () => {
  assert.is(retryDelay(1000, 1, 1), 1000);
  assert.is(retryDelay(1000, 2, 1), 2000);
  assert.is(retryDelay(1000, 3, 0), 2000);
  assert.is(retryDelay(1000, 20, 1), 60_000);
  for (let i = 0; i < 50; i++) {
    const d = retryDelay(1000, 2, Math.random());
    assert.ok(d >= 1000 && d <= 2000, String(d));
  }
});

test.run();
