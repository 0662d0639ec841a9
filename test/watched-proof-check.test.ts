/**
 * `uet serve`'s change journal (lib/watch/change-journal.ts) and the proof check it tells which
 * paths to stat (lib/cli/watched-proof-check.ts), on real files and real inotify events.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NoopProof, ProofContext, SignedEntry } from '../lib/build/noop-proof.js';
import { changedPaths } from '../lib/build/noop-proof.js';
import { WatchedProofCheck } from '../lib/cli/watched-proof-check.js';
import { statSignedQuiet } from '../lib/util/stat-quiet.js';
import { ChangeJournal } from '../lib/watch/change-journal.js';
import { proofContext, signedProof } from './helpers/proofs.js';

function tempRoot(): string {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'uet-journal-')));
  fs.mkdirSync(path.join(root, '.uet'));
  return root;
}

function openJournal(root: string, overflowAt?: number): ChangeJournal {
  const j = ChangeJournal.open(root, path.join(root, '.uet'), overflowAt === undefined ? {} : { overflowAt });
  if (typeof j === 'string') throw new Error(j);
  return j;
}

const write = (root: string, rel: string, text: string): void => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
};

test('journal: a change after a sync is named since that sync only; a folder is trusted once watched before the sync asked about', async () => {
  const root = tempRoot();
  fs.writeFileSync(path.join(root, '.uet', 'serve-cookie-1-0'), '');
  const j = openJournal(root);
  try {
    assert.not.ok(fs.existsSync(path.join(root, '.uet', 'serve-cookie-1-0')), 'a cookie left by a killed server is removed');
    write(root, 'src/a.txt', 'a');
    write(root, 'src/b.txt', 'b');
    j.track(['src']);
    assert.not.ok(j.trusted('src', 0), 'not for changes since before it was watched');
    const e1 = (await j.sync())!;
    assert.ok(e1 >= 1);
    assert.ok(j.trusted('src', e1), 'watched before sync e1');
    const e2 = (await j.sync())!;
    assert.ok(j.trusted('', e2), 'its ancestors are watched too');
    assert.not.ok(j.trusted('other', e2), 'an untracked folder is never trusted');
    assert.equal([...j.changedSince(e2)], [], 'nothing changed since');

    fs.writeFileSync(path.join(root, 'src/a.txt'), 'A');
    const e3 = (await j.sync())!;
    assert.equal([...j.changedSince(e2)].sort(), ['src', 'src/a.txt'], 'the file and its folder');
    assert.equal([...j.changedSince(e3)], [], 'nothing since the next sync');
    fs.chmodSync(path.join(root, 'src/b.txt'), 0o600);
    await j.sync();
    assert.ok([...j.changedSince(e3)].includes('src/b.txt'), 'a chmod is a change');

    // the folder replaced: its old watch follows the old inode; the new one is trusted only later
    fs.rmSync(path.join(root, 'src'), { recursive: true });
    write(root, 'src/a.txt', 'new');
    const e5 = (await j.sync())!;
    assert.not.ok(j.trusted('src', e5 - 1), 'replaced since');
    assert.not.ok(j.trusted('src', e5), 'watched anew after sync e5 was asked');
    const e6 = (await j.sync())!;
    assert.ok(j.trusted('src', e6));
    fs.writeFileSync(path.join(root, 'src/a.txt'), 'newer');
    await j.sync();
    assert.ok([...j.changedSince(e6)].includes('src/a.txt'), 'the new folder is watched');
  } finally {
    j.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('journal: more events than the queue could hold between two syncs: nothing is trusted since', async () => {
  const root = tempRoot();
  const j = openJournal(root, 20);
  try {
    write(root, 'src/a.txt', 'a');
    j.track(['src']);
    await j.sync();
    const e = (await j.sync())!;
    assert.not.ok(j.lostSince(e));
    for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(root, `src/f${i}.txt`), String(i));
    const after = (await j.sync())!;
    assert.ok(j.lostSince(e), 'events may have been dropped');
    assert.not.ok(j.trusted('src', e));
    assert.not.ok(j.lostSince(after), 'the next interval is clean again');
  } finally {
    j.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('journal: a folder that did not exist when tracked is watched once it does and is tracked again', async () => {
  const root = tempRoot();
  const j = openJournal(root);
  try {
    j.track(['out/sub']);
    const e1 = (await j.sync())!;
    await j.sync();
    assert.not.ok(j.trusted('out/sub', e1 + 1), 'absent: not watched');
    write(root, 'out/sub/x.txt', 'x');
    j.track(['out/sub']);
    await j.sync();
    const e = (await j.sync())!;
    assert.ok(j.trusted('out/sub', e));
  } finally {
    j.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** A proof over the files under `root` now (as a build would sign them). */
function proofNow(root: string, rels: readonly string[]): { bytes: Buffer; proof: NoopProof } {
  return signedProof(root, new Map(rels.map((rel): [string, SignedEntry] => [rel, { stat: statSignedQuiet(path.join(root, rel)) }])));
}

/**
 * A watched check over `root` whose full check is changedPaths, and a context that counts the
 * stats it makes (`stats.count`, reset by the caller).
 */
function countingCheck(root: string, j: ChangeJournal): { ctx: ProofContext; check: WatchedProofCheck; stats: { count: number } } {
  const stats = { count: 0 };
  const ctx = proofContext(root, (rel) => {
    stats.count++;
    return statSignedQuiet(path.join(root, rel));
  });
  const full = { changedPaths: async (_b: Buffer, p: NoopProof, c: ProofContext, limit: number) => changedPaths(p, c, limit) };
  return { ctx, check: new WatchedProofCheck(j, full), stats };
}

test('the watched check answers as a full check through random edits, and stats only what events named', async () => {
  const root = tempRoot();
  const j = openJournal(root);
  // a seeded generator: a failure can be replayed
  let seed = 20261127;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const folders = ['src', 'src/deep', 'out', 'lib'];
  const rels: string[] = ['src', 'out', 'absent/never.txt', 'src/missing.txt'];
  for (const f of folders) for (let i = 0; i < 25; i++) rels.push(`${f}/f${i}.txt`);
  for (const rel of rels) if (rel.endsWith('.txt') && !rel.includes('never') && !rel.includes('missing')) write(root, rel, `${rel}\n`);
  rels.sort();
  const { ctx, check, stats } = countingCheck(root, j);
  try {
    let { bytes, proof } = proofNow(root, rels);
    check.watchFoldersOf(proof);
    const files = rels.filter((r) => /\/f\d+\.txt$/.test(r));
    const pick = (): string => files[rand(files.length)]!;
    const edits: Array<() => void> = [
      () => fs.writeFileSync(path.join(root, pick()), `edit ${rand(1000)}\n`),
      () => fs.chmodSync(path.join(root, 'src/f3.txt'), rand(2) === 0 ? 0o600 : 0o644),
      () => fs.rmSync(path.join(root, pick()), { force: true }),
      () => write(root, 'src/missing.txt', 'now here\n'),
      () => {
        // a folder moved away and another put in its place, with the same names
        fs.rmSync(path.join(root, 'old'), { recursive: true, force: true });
        fs.renameSync(path.join(root, 'src/deep'), path.join(root, 'old'));
        fs.mkdirSync(path.join(root, 'src/deep'));
        for (let i = 0; i < 25; i++) if (rand(2) === 0) fs.writeFileSync(path.join(root, `src/deep/f${i}.txt`), `moved ${i}\n`);
      },
      () => {
        // a file replaced by a rename from elsewhere (an editor's atomic save)
        fs.writeFileSync(path.join(root, 'tmp.txt'), `saved ${rand(1000)}\n`);
        fs.renameSync(path.join(root, 'tmp.txt'), path.join(root, pick()));
      },
      () => {},
    ];
    let quietStats = -1;
    for (let step = 0; step < 60; step++) {
      const edit = rand(edits.length);
      edits[edit]!();
      stats.count = 0;
      const got = await check.changedPaths(bytes, proof, ctx, Infinity);
      const statsByCheck = stats.count;
      const want = changedPaths(proof, ctx, Infinity);
      assert.equal(got, want, `step ${step}, edit ${edit}`);
      if (step > 2 && edit === edits.length - 1 && got.length === 0) quietStats = statsByCheck;
      // half the time a build follows and signs a new proof after the check (as a served build does)
      if (got.length > 0 && rand(2) === 0) {
        ({ bytes, proof } = proofNow(root, rels));
        check.proofWritten(bytes);
      }
    }
    assert.ok(quietStats >= 0 && quietStats < rels.length / 4, `a check with nothing changed stats little (${quietStats} of ${rels.length})`);
  } finally {
    check.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a proof signed anew after a check that found nothing changed keeps that check\'s basis', async () => {
  const root = tempRoot();
  const j = openJournal(root);
  const rels = ['src'];
  for (let i = 0; i < 40; i++) rels.push(`src/f${i}.txt`);
  for (const rel of rels.slice(1)) write(root, rel, `${rel}\n`);
  rels.sort();
  const { ctx, check, stats } = countingCheck(root, j);
  try {
    const first = proofNow(root, rels);
    check.watchFoldersOf(first.proof);
    assert.equal(await check.changedPaths(first.bytes, first.proof, ctx, Infinity), []);
    // as settledProof gives it: other bytes, the same signatures
    const again = signedProof(root, new Map(rels.map((rel): [string, SignedEntry] => [rel, { stat: statSignedQuiet(path.join(root, rel)) }])), 2);
    assert.not.ok(again.bytes.equals(first.bytes));
    check.proofSettled(again.bytes);
    stats.count = 0;
    assert.equal(await check.changedPaths(again.bytes, again.proof, ctx, Infinity), []);
    assert.ok(stats.count < rels.length / 4, `stats only what events named (${stats.count} of ${rels.length})`);
    write(root, 'src/f7.txt', 'edited\n');
    assert.equal(await check.changedPaths(again.bytes, again.proof, ctx, Infinity), [{ path: 'src/f7.txt', folder: false }]);
  } finally {
    check.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
