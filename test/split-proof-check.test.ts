/** `uet serve`'s proof check split between two threads (lib/cli/split-proof-check.ts), on real files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SignedEntry } from '../lib/build/noop-proof.js';
import { changedPaths, statUnder } from '../lib/build/noop-proof.js';
import { SplitProofCheck } from '../lib/cli/split-proof-check.js';
import { fastStat } from '../lib/util/fast-stat.js';
import { statSignedQuiet } from '../lib/util/stat-quiet.js';
import { proofContext, signedProof } from './helpers/proofs.js';

const FILES = 3000;
const name = (i: number): string => `src/f${String(i).padStart(4, '0')}.txt`;

test('split between two threads, the check finds what changedPaths finds, in its order, up to its limit', async () => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'uet-split-')));
  const check = new SplitProofCheck();
  try {
    fs.mkdirSync(path.join(root, 'src'));
    fs.mkdirSync(path.join(root, '.uet'));
    fs.writeFileSync(path.join(root, '.uet', 'fresh.log'), '');
    const entries = new Map<string, SignedEntry>();
    for (let i = 0; i < FILES; i++) {
      fs.writeFileSync(path.join(root, name(i)), `file ${i}\n`);
      entries.set(name(i), { stat: statSignedQuiet(path.join(root, name(i))) });
    }
    entries.set('src/never.txt', { stat: undefined });
    const { bytes, proof } = signedProof(root, entries, FILES);
    const ctx = proofContext(root, statUnder(root, process.cwd(), fastStat(path.join(root, '.uet', 'fresh.log'))));
    assert.equal(await check.changedPaths(bytes, proof, ctx, Infinity), [], 'nothing changed');

    // one change in the half checked here, three in the worker's (a rewrite, a deletion, a creation)
    fs.writeFileSync(path.join(root, name(10)), 'longer content now\n');
    fs.rmSync(path.join(root, name(2000)));
    fs.writeFileSync(path.join(root, name(2990)), 'other\n');
    fs.writeFileSync(path.join(root, 'src/never.txt'), 'here now\n');
    const split = await check.changedPaths(bytes, proof, ctx, Infinity);
    assert.equal(split, changedPaths(proof, ctx));
    assert.equal(
      split.map((c) => c.path),
      [name(10), name(2000), name(2990), 'src/never.txt'],
    );
    assert.equal(await check.changedPaths(bytes, proof, ctx, 2), changedPaths(proof, ctx, 2));

    // without its thread the check is done here, with the same answer
    await check.close();
    assert.equal(await check.changedPaths(bytes, proof, ctx, Infinity), split);
  } finally {
    await check.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
