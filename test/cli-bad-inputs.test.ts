/**
 * The corpus of malformed inputs under test/fixtures/bad/: YAML syntax, schema, references,
 * cycles, scope, globs leaving the root, and patch files (traversal, binary, oversized,
 * malformed) given to `patches:`. Each case is one `.case` file: a header line
 *   # expect: E_CODE file:line        (uet build exits 2 and prints `file:line:col E_CODE`)
 *   # expect: no-crash                (any of exit 0, 1, 2: patch files are data, never a crash)
 * then `=== path` sections holding the project's files. Every case: no stack trace, and every
 * file of the project is byte-identical afterwards (uet writes only .uet/ and the cache).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runUet, withProject } from './helpers/project.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// compiled to dist/test/; the fixtures stay in the source tree
const CORPUS = path.resolve(here, '..', '..', 'test', 'fixtures', 'bad');

interface Case {
  readonly name: string;
  readonly expect: { readonly code: string; readonly where: string } | 'no-crash';
  readonly files: Record<string, string>;
}

function readCase(file: string): Case {
  const text = fs.readFileSync(path.join(CORPUS, file), 'latin1');
  const [header, ...rest] = text.split('\n');
  const m = /^# expect: (?:(E_[A-Z_]+) (\S+:\d+)|(no-crash))$/.exec(header ?? '');
  if (!m) throw new Error(`${file}: the first line must be '# expect: E_CODE file:line' or '# expect: no-crash'`);
  const files: Record<string, string> = {};
  let current: string | undefined;
  for (const line of rest.join('\n').split(/(?<=\n)/)) {
    if (line.startsWith('=== ')) {
      current = line.slice(4).trim();
      files[current] = '';
    } else if (current !== undefined) {
      files[current] += line;
    }
  }
  return { name: file, expect: m[3] ? 'no-crash' : { code: m[1]!, where: m[2]! }, files };
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const top = rel.split(path.sep)[0];
    if (top === '.uet' || top === 'cache') continue;
    const abs = path.join(dir, rel);
    if (fs.statSync(abs).isFile()) out.set(rel, createHash('sha256').update(fs.readFileSync(abs)).digest('hex'));
  }
  return out;
}

const cases = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.case')).sort().map(readCase);

test('the corpus holds at least 50 malformed inputs', () => {
  assert.ok(cases.length >= 50, `${cases.length} cases`);
});

test('every malformed input: exit 2 with its code at file:line (or no crash for patch data), no stack trace, the tree untouched', async () => {
  const failures: string[] = [];
  // a few at a time: each case is a separate uet process
  const queue = [...cases];
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      await withProject({}, async (dir) => {
        for (const [rel, text] of Object.entries(c.files)) {
          fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
          fs.writeFileSync(path.join(dir, rel), Buffer.from(text, 'latin1'));
        }
        const before = snapshot(dir);
        const r = await runUet(dir, ['build'], { timeoutMs: 30_000 });
        const problems: string[] = [];
        if (/\n\s+at .+:\d+:\d+\)?\n/.test(r.stderr + r.stdout)) problems.push('a stack trace was printed');
        if (c.expect === 'no-crash') {
          if (r.code === null || r.code > 2) problems.push(`exit ${r.code ?? r.signal}`);
        } else {
          if (r.code !== 2) problems.push(`exit ${r.code ?? r.signal}, not 2`);
          if (!r.stderr.includes(`${c.expect.where}:`)) problems.push(`no ${c.expect.where}: in stderr`);
          if (!new RegExp(`${c.expect.where.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ ${c.expect.code} `).test(r.stderr)) problems.push(`no '${c.expect.where}:COL ${c.expect.code}'`);
        }
        const after = snapshot(dir);
        for (const [rel, hash] of before) if (after.get(rel) !== hash) problems.push(`${rel} changed`);
        for (const rel of after.keys()) if (!before.has(rel)) problems.push(`${rel} appeared`);
        if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}\n${r.stderr.split('\n').slice(0, 3).join('\n')}`);
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.equal(failures, [], failures.join('\n\n'));
});

test.run();
