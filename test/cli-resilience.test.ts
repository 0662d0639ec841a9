/**
 * Resilience: retries with backoff, per-tool circuit breakers that persist across builds,
 * pool workers in the run log, and a Ctrl-C that drains before it kills.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collect, isAlive, parseEvents, readLines, readText, runUet, spawnUet, waitFor, writeText, withProject } from './helpers/project.js';


test('retries: a task that fails twice then passes succeeds with retries: 2', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: flaky
        run: "echo x >> tries.log; echo attempt $(wc -l < tries.log); test $(wc -l < tries.log) -ge 3"
        retries: 2
        retry_delay: 20ms
`,
  }, async (dir) => {
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readLines(dir, 'tries.log').length, 3);
    assert.match(r.stdout, /retry\s+p\/w\/flaky: attempt 1\/3 failed \(exit code 1\)/);
    assert.match(r.stdout, /retry\s+p\/w\/flaky: attempt 2\/3 failed/);
    const shown = await runUet(dir, ['runs', 'last']);
    assert.match(shown.stdout, /ran\s+p\/w\/flaky .*3 attempts/);
  });
});

test('retries exhausted: the task fails with the attempt count and only the last log', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: broken
        run: "echo x >> tries.log; echo this is attempt $(wc -l < tries.log | tr -d ' '); exit 4"
        retries: 2
        retry_delay: 10ms
`,
  }, async (dir) => {
    const r = await runUet(dir, ['build']);
    assert.is(r.code, 1);
    assert.is(readLines(dir, 'tries.log').length, 3);
    assert.match(r.stdout, /FAILED\s+p\/w\/broken: exit code 4 after 3 attempts/);
    assert.match(r.stdout, /p\/w\/broken \| this is attempt 3/);
    assert.not.match(r.stdout, /this is attempt 1/);
  });
});

const BREAKER_PROJECT = (cooldown: string): Record<string, string> => ({
  'uet.config.yaml': `version: 1
circuit_breaker: { failure_threshold: 2, cooldown: ${cooldown} }
tools:
  flaky: { run: "echo ran >> tool.log; test -f tool-fixed" }
`,
  'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
${['a', 'b', 'c', 'd'].map((id) => `      - { id: ${id}, tool: flaky }\n`).join('')}`,
});

test('a tool that keeps failing opens its breaker: later tasks never start its process, across builds', async () => {
  await withProject(BREAKER_PROJECT('1h'), async (dir) => {
    const r = await runUet(dir, ['build', '-j', '1', '--keep-going']);
    assert.is(r.code, 1);
    assert.is(readLines(dir, 'tool.log').length, 2, 'two failures open the breaker; no third process');
    assert.match(r.stdout, /breaker\s+tool flaky: closed -> open/);
    assert.match(r.stdout, /E_CIRCUIT_OPEN tool 'flaky' failed 2 times in a row/);
    assert.match(r.stdout, /2 failed, 0 blocked|4 failed/);
    const again = await runUet(dir, ['build', '-j', '1', '--keep-going']);
    assert.is(again.code, 1);
    assert.is(readLines(dir, 'tool.log').length, 2, 'the open state persisted: no process started');
    const state = JSON.parse(readText(dir, '.uet/breakers.json')) as Record<string, { state: string }>;
    assert.is(state['flaky']!.state, 'open');
  });
});

test('after the cooldown one probe decides: a success closes the breaker', async () => {
  await withProject(BREAKER_PROJECT('300ms'), async (dir) => {
    await runUet(dir, ['build', '-j', '1', '--keep-going']);
    assert.is(readLines(dir, 'tool.log').length, 2);
    writeText(dir, 'tool-fixed', '');
    await new Promise((r) => setTimeout(r, 400));
    const r = await runUet(dir, ['build', '-j', '1', '--json']);
    assert.is(r.code, 0, r.stdout);
    const transitions = parseEvents(r.stdout)
      .filter((e) => e['type'] === 'breaker')
      .map((e) => `${String(e['from'])}->${String(e['to'])}`);
    assert.equal(transitions, ['open->half-open', 'half-open->closed']);
    assert.is(readLines(dir, 'tool.log').length, 6, 'the probe and then every task ran');
  });
});

test('the run log says which pool worker ran what, and each worker’s lifecycle', async () => {
  await withProject({
    'uet.config.yaml': 'version: 1\n',
    // long enough that the second worker is up before the first is free: the first free
    // worker takes the next command, and two instant ones may both go to the first
    'phases/p.yaml': 'id: p\nworkstreams:\n  - id: w\n    tasks:\n      - { id: a, run: "sleep 0.5" }\n      - { id: b, run: "sleep 0.5" }\n',
  }, async (dir) => {
    const r = await runUet(dir, ['build', '-j', '2']);
    assert.is(r.code, 0, r.stderr);
    const shown = await runUet(dir, ['runs', 'last', '--json']);
    const events = parseEvents(shown.stdout);
    const ends = events.filter((e) => e['type'] === 'task-end');
    assert.ok(ends.every((e) => typeof e['worker'] === 'number'), 'every task-end names its worker');
    const states = new Map<number, string[]>();
    for (const e of events.filter((x) => x['type'] === 'worker')) {
      const id = e['worker'] as number;
      states.set(id, [...(states.get(id) ?? []), e['state'] as string]);
    }
    assert.is(states.size, 2);
    for (const s of states.values()) {
      assert.is(s[0], 'spawning');
      assert.is(s[1], 'idle');
      assert.equal(s.slice(-2), ['draining', 'terminated']);
    }
    const busy = [...states.values()].flat().filter((s) => s === 'busy').length;
    assert.is(busy, 2);
    const text = await runUet(dir, ['runs', 'last']);
    assert.match(text.stdout, /ran\s+p\/w\/a .*on worker \d+/);
  });
});

const SHUTDOWN_PROJECT = {
  'uet.config.yaml': 'version: 1\n',
  'phases/p.yaml': `id: p
workstreams:
  - id: w
    tasks:
      - id: slow
        run: "echo $$ > slow.pid; sleep 1.5; echo done > slow.out"
        inputs: []
        outputs: [slow.out]
      - id: next
        run: "echo next >> next.log"
        depends_on: [slow]
`,
};

test('one Ctrl-C drains: the running task finishes and is recorded, nothing new starts, exit 130', async () => {
  await withProject(SHUTDOWN_PROJECT, async (dir) => {
    const child = spawnUet(dir, ['build']);
    const done = collect(child);
    await waitFor(() => fs.existsSync(path.join(dir, 'slow.pid')), 10_000, 'the task started');
    child.kill('SIGINT');
    const r = await done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stderr, /waiting for running tasks to finish/);
    assert.is(readText(dir, 'slow.out'), 'done\n');
    assert.not.ok(fs.existsSync(path.join(dir, 'next.log')));
    const again = await runUet(dir, ['build']);
    assert.match(again.stdout, /1 fresh, 0 restored, 1 ran/);
  });
});

test('two Ctrl-Cs kill the running task tree now: no orphan, nothing recorded, exit 130', async () => {
  await withProject(SHUTDOWN_PROJECT, async (dir) => {
    const child = spawnUet(dir, ['build']);
    const done = collect(child);
    await waitFor(() => fs.existsSync(path.join(dir, 'slow.pid')), 10_000, 'the task started');
    const pid = Number(readText(dir, 'slow.pid').trim());
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const r = await done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stderr, /killing running tasks/);
    assert.not.ok(isAlive(pid), 'the task shell was killed');
    assert.not.ok(fs.existsSync(path.join(dir, 'slow.out')));
    const again = await runUet(dir, ['build']);
    assert.match(again.stdout, /0 fresh, 0 restored, 2 ran/);
  });
});

test.run();
