/** .uet/explain.log: the key parts of each task's last success, one appended line per success. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createExplainStore, TAIL_BYTES } from '../lib/build/explain-store.js';
import type { KeyParts } from '../lib/build/key.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function uetDir(): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-explain-'));
  made.push(base);
  return path.join(base, '.uet');
}

const parts = (command: string): KeyParts => ({ command, inputs: [['a.txt', 'h1']] }) as unknown as KeyParts;

test('the last success of each task is read back, by this store and by a later one', async () => {
  const dir = uetDir();
  const a = createExplainStore(dir);
  assert.is(await a.get('p/w/t'), undefined, 'nothing yet (and no folder yet)');
  await a.put('p/w/t', parts('one'));
  await a.put('p/w/u', parts('other'));
  await a.put('p/w/t', parts('two'));
  assert.equal(await a.get('p/w/t'), parts('two'));
  const b = createExplainStore(dir);
  assert.equal(await b.get('p/w/t'), parts('two'));
  assert.equal(await b.get('p/w/u'), parts('other'));
  await b.put('p/w/u', parts('three'));
  assert.equal(await b.get('p/w/u'), parts('three'), 'a read after the file was loaded sees the new line');
  // ids JSON escapes, and one that is not ASCII, read back by a store that loads the file
  const odd = ['p/w/q"uote', 'p/w/back\\slash', 'p/w/ünï', 'p/w/"'];
  for (const id of odd) await b.put(id, parts(id));
  const c = createExplainStore(dir);
  for (const id of odd) assert.equal(await c.get(id), parts(id), id);
  assert.equal(await c.get('p/w/t'), parts('two'));
});

test('a line torn by a crash is skipped and the next line still counts', async () => {
  const dir = uetDir();
  const a = createExplainStore(dir);
  await a.put('p/w/t', parts('one'));
  fs.appendFileSync(path.join(dir, 'explain.log'), '\n{"t":"p/w/t","p":{"comm');
  await createExplainStore(dir).put('p/w/u', parts('u'));
  const b = createExplainStore(dir);
  assert.equal(await b.get('p/w/t'), parts('one'));
  assert.equal(await b.get('p/w/u'), parts('u'));
});

test('a few lookups search the file; many read it whole, which compacts a log of mostly dead lines', async () => {
  const dir = uetDir();
  const a = createExplainStore(dir);
  for (let i = 0; i < 1500; i++) await a.put(`p/w/t${i % 10}`, parts(`run ${i}`));
  const file = path.join(dir, 'explain.log');
  const lineCount = (): number => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  assert.is(lineCount(), 1500);
  const b = createExplainStore(dir);
  assert.equal(await b.get('p/w/t3'), parts('run 1493'));
  assert.equal(await b.get('p/w/t0'), parts('run 1490'));
  assert.is(await b.get('p/w/none'), undefined);
  assert.is(lineCount(), 1500, 'a few lookups leave the file as it is');
  for (let i = 0; i < 16; i++) assert.equal(await b.get(`p/w/t${i % 10}`), parts(`run ${1490 + (i % 10)}`));
  assert.is(lineCount(), 10);
  assert.equal(await createExplainStore(dir).get('p/w/t9'), parts('run 1499'));
});

test('searched lookups see lines put since the file was read, and a first line without a newline before it', async () => {
  const dir = uetDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'explain.log');
  fs.writeFileSync(file, `${JSON.stringify({ t: 'p/w/first', p: parts('first') })}\n{"t":"p/w/t","p":${JSON.stringify(parts('one'))}}`);
  const a = createExplainStore(dir);
  assert.equal(await a.get('p/w/first'), parts('first'));
  assert.equal(await a.get('p/w/t'), parts('one'));
  await a.put('p/w/t', parts('two'));
  assert.equal(await a.get('p/w/t'), parts('two'));
  assert.equal(await createExplainStore(dir).get('p/w/t'), parts('two'));
});

test('a lookup searches the end of a long log first, and the rest when the line is not there or might start before it', async () => {
  const dir = uetDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'explain.log');
  const lineOf = (t: string, command: string): string => `\n${JSON.stringify({ t, p: parts(command) })}`;
  const filler = (bytes: number): string => {
    let text = '';
    for (let i = 0; text.length < bytes; i++) text += lineOf(`p/w/f${i}`, 'x'.repeat(200));
    return text;
  };
  // the end searched first begins exactly at 'p/w/mid' of a line that does not start there
  // (garbage before it, as a crash may leave): only a full load can tell, and it skips it
  const head = lineOf('p/w/old', 'old') + lineOf('p/w/torn', 'whole') + lineOf('p/w/mid', 'valid') + filler(TAIL_BYTES);
  const atEdge = '\ngarbage' + lineOf('p/w/mid', 'wrong').slice(1);
  const inTail = lineOf('p/w/torn', 'torn').slice(0, -5) + lineOf('p/w/recent', 'recent');
  const tail = atEdge.slice('\ngarbage'.length) + inTail;
  const text = head + '\ngarbage' + tail + filler(TAIL_BYTES - tail.length).slice(0, TAIL_BYTES - tail.length);
  fs.writeFileSync(file, text);
  const size = fs.statSync(file).size;
  assert.is(text.lastIndexOf('{"t":"p/w/mid"'), size - TAIL_BYTES, 'the garbled line is at the edge');
  const a = createExplainStore(dir);
  assert.equal(await a.get('p/w/recent'), parts('recent'), 'in the end');
  assert.equal(await a.get('p/w/torn'), parts('whole'), 'torn in the end, whole before it');
  assert.equal(await a.get('p/w/mid'), parts('valid'), 'not taken from where the end begins');
  assert.equal(await a.get('p/w/old'), parts('old'));
  assert.is(await a.get('p/w/none'), undefined);
  const b = createExplainStore(dir);
  assert.equal(await b.get('p/w/mid'), parts('valid'), 'the same, asked first');
});

test('the folder of per-task files that earlier versions kept goes with the first log', async () => {
  const dir = uetDir();
  fs.mkdirSync(path.join(dir, 'explain'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'explain', 'p__w__t.json'), '{}');
  await createExplainStore(dir).put('p/w/t', parts('one'));
  assert.not.ok(fs.existsSync(path.join(dir, 'explain')));
  assert.equal(await createExplainStore(dir).get('p/w/t'), parts('one'));
});

test.run();
