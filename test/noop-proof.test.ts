/** The no-op proof's pure parts: its format, its check, its racy rule, the fast path's flags. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NoopProof, ProofContext, StatLike } from '../lib/build/noop-proof.js';
import type { SignedEntry } from '../lib/build/noop-proof.js';
import { changedPaths, checkProof, envDigest, formatProof, indexOfPath, listingUnchanged, parseProof, proofFileName, settledProof, signEntries } from '../lib/build/noop-proof.js';
import { parseFastArgs } from '../lib/cli/noop-fast-path.js';

const T = 1_800_000_000_000;
const file = (size: number, mtimeMs: number, ino = 1): StatLike => ({ size, mtimeMs, ctimeMs: mtimeMs, ino, mode: 0o100644 });
const sha = (s: string): string => `h(${s})`;

function proofOf(tree: Map<string, StatLike>, over: Partial<NoopProof> = {}, digests: Record<string, string> = {}): NoopProof {
  const signed = signEntries(new Map([...tree].map(([rel, stat]) => [rel, digests[rel] !== undefined ? { stat, digest: digests[rel] } : { stat }])));
  return {
    uet: 'u1',
    root: '/p',
    targets: ['p1'],
    envNames: ['MODE'],
    envDigest: envDigest(['MODE'], { MODE: 'a' }, sha),
    state: 'log1',
    label: 'p1',
    tasks: 2,
    counts: { fresh: 2, restored: 0, ran: 0, failed: 0, blocked: 0, skipped: 0 },
    warnings: ['warning: something'],
    specDigest: 'spec1',
    signed,
    ...over,
  };
}

function ctxOf(tree: Map<string, StatLike>, over: Partial<ProofContext> = {}, contents: Record<string, string> = {}): ProofContext {
  return { uet: 'u1', root: '/p', targets: ['p1'], env: { MODE: 'a' }, state: 'log1', stat: (rel) => tree.get(rel), sha256: sha, digestOf: (rel) => (contents[rel] !== undefined ? sha(contents[rel]) : undefined), ...over };
}

const old = T - 5000;
const tree = (): Map<string, StatLike> =>
  new Map([
    ['src/a.txt', file(6, old)],
    ['out/a.txt', file(6, old - 5, 2)],
    ['src', { ...file(4096, old, 3), mode: 0o40755 }],
    ['', { ...file(4096, old, 4), mode: 0o40755 }],
  ]);

test('format and parse round-trip, at any byte alignment', () => {
  const t = tree();
  const p = proofOf(t);
  const bytes = formatProof(p);
  assert.ok(bytes);
  for (const shift of [0, 1, 3]) {
    const buf = Buffer.alloc(bytes.length + shift);
    bytes.copy(buf, shift);
    const back = parseProof(buf.subarray(shift));
    assert.ok(back, `parsed at shift ${shift}`);
    assert.equal([...back.signed.paths], [...p.signed.paths]);
    assert.equal([...back.signed.sigs], [...p.signed.sigs]);
    assert.is(back.label, 'p1');
    assert.equal(back.warnings, ['warning: something']);
    assert.is(checkProof(back, ctxOf(t)), undefined);
  }
  // truncated or foreign bytes are no proof
  assert.is(parseProof(bytes.subarray(0, bytes.length - 8)), undefined);
  assert.is(parseProof(Buffer.from('hello\n')), undefined);
});

test('every kind of change is a mismatch, named', () => {
  const t = tree();
  const p = proofOf(t);
  assert.is(checkProof(p, ctxOf(t)), undefined);
  assert.equal(checkProof(p, ctxOf(t, { uet: 'u2' })), { kind: 'uet' });
  assert.equal(checkProof(p, ctxOf(t, { root: '/q' })), { kind: 'root' });
  assert.equal(checkProof(p, ctxOf(t, { targets: ['p2'] })), { kind: 'targets' });
  assert.equal(checkProof(p, ctxOf(t, { state: 'log2' })), { kind: 'state' });
  assert.equal(checkProof(p, ctxOf(t, { env: { MODE: 'b' } })), { kind: 'env' });
  assert.equal(checkProof(p, ctxOf(t, { env: {} })), { kind: 'env' });
  for (const [rel, change] of [
    ['src/a.txt', (s: StatLike) => ({ ...s, size: 7 })],
    ['src/a.txt', (s: StatLike) => ({ ...s, ctimeMs: s.ctimeMs + 0.001 })],
    ['out/a.txt', (s: StatLike) => ({ ...s, ino: 99 })],
    ['out/a.txt', (s: StatLike) => ({ ...s, mode: 0o100755 })],
    ['src', (s: StatLike) => ({ ...s, mtimeMs: s.mtimeMs + 1 })],
  ] as const) {
    const changed = tree();
    changed.set(rel, change(changed.get(rel)!));
    assert.equal(checkProof(p, ctxOf(changed)), { kind: 'path', path: rel }, rel);
  }
  const gone = tree();
  gone.delete('out/a.txt');
  assert.equal(checkProof(p, ctxOf(gone)), { kind: 'path', path: 'out/a.txt' });
});

test('an absent path is recorded, and its appearance is a mismatch', () => {
  const p = proofOf(new Map(), { signed: signEntries(new Map([['src/none.txt', { stat: undefined }]])) });
  assert.is(checkProof(p, ctxOf(new Map())), undefined);
  assert.equal(checkProof(p, ctxOf(new Map([['src/none.txt', file(1, old)]]))), { kind: 'path', path: 'src/none.txt' });
});

test('a racy file is re-read: same stat but other content is a mismatch; the digest survives the format', () => {
  const t = tree();
  const p = parseProof(formatProof(proofOf(t, {}, { 'out/a.txt': sha('hello\n') }))!)!;
  assert.is(p.signed.digests.size, 1);
  assert.is(checkProof(p, ctxOf(t, {}, { 'out/a.txt': 'hello\n' })), undefined);
  assert.equal(checkProof(p, ctxOf(t, {}, { 'out/a.txt': 'jello\n' })), { kind: 'path', path: 'out/a.txt' });
  assert.equal(checkProof(p, ctxOf(t, {}, {})), { kind: 'path', path: 'out/a.txt' });
});

test('a proof checked once its racy entries are older than the racy window drops their digests, and only theirs', () => {
  const t = tree();
  // src/a.txt changed 3 s before T, out/a.txt 1 s before, the root's ctime 0.5 s before
  t.set('src/a.txt', file(6, T - 3000));
  t.set('out/a.txt', file(6, T - 1000, 2));
  t.set('', { ...file(4096, old, 4), ctimeMs: T - 500, mode: 0o40755 });
  const p = proofOf(t, {}, { 'src/a.txt': sha('a'), 'out/a.txt': sha('b'), '': sha('listing') });
  const digested = (q: NoopProof): string[] => [...q.signed.digests.keys()].map((i) => q.signed.paths[i]!).sort();
  // checked at T: only src/a.txt is older than RACY_MS
  const settled = settledProof(p, T)!;
  assert.equal(digested(settled), ['', 'out/a.txt']);
  assert.equal(settled.signed.sigs, p.signed.sigs);
  // the same check 2 s later settles all; one within the window of every entry settles none
  assert.equal(digested(settledProof(p, T + 2000)!), []);
  assert.is(settledProof(p, T - 1500), undefined);
  assert.is(settledProof(settledProof(p, T + 2000)!, T + 9000), undefined, 'nothing left to settle');
  // its bytes parse to the same proof, less those digests
  assert.equal(digested(parseProof(formatProof(settled)!)!), ['', 'out/a.txt']);
});

test('a racy folder is listed again: a new name is a mismatch, found as a folder', () => {
  const t = tree();
  const p = proofOf(t, {}, { src: 'listing-1' });
  const asked: Array<[string, boolean]> = [];
  const ctx = (listing: string): ProofContext =>
    ctxOf(t, {
      digestOf: (rel, folder) => {
        asked.push([rel, folder]);
        return listing;
      },
    });
  assert.is(checkProof(p, ctx('listing-1')), undefined);
  assert.equal(asked, [['src', true]]);
  assert.equal(changedPaths(p, ctx('listing-2')), [{ path: 'src', folder: true }]);
});

test('a folder whose stat changed still has its names when its listing matches the one signed; a folder without one never does', () => {
  const signed = signEntries(new Map<string, SignedEntry>([
    ['src', { stat: file(4096, old), listing: 'h(a.txt\nb.txt)' }],
    ['lib', { stat: file(4096, old) }],
  ]));
  const digestOf = (listing: string) => (rel: string): string | undefined => (rel !== 'gone' ? listing : undefined);
  assert.ok(listingUnchanged(signed, 'src', digestOf('h(a.txt\nb.txt)')));
  assert.not.ok(listingUnchanged(signed, 'src', digestOf('h(a.txt\nb.txt\nc.txt)')), 'a name added');
  assert.not.ok(listingUnchanged(signed, 'lib', digestOf('anything')), 'no listing signed');
  assert.not.ok(listingUnchanged(signed, 'gone', digestOf('anything')), 'not in the proof');
});

test('no variable feeding keys: no digest; each target list has its own file', () => {
  assert.is(envDigest([], { MODE: 'a' }, sha), '');
  assert.is.not(proofFileName([]), proofFileName(['p1']));
  assert.is.not(proofFileName(['p1', 'p2']), proofFileName(['p1p2']));
  assert.match(proofFileName(['x']), /^[0-9a-f]{8}-\d+\.proof$/);
});

test('the fast path takes only flags that leave a fresh build printing the same', () => {
  assert.equal(parseFastArgs(['build']), { targets: [] });
  assert.equal(parseFastArgs(['build', 'p1', '--quiet', '-j', '4', '--keep-going', '--no-cache']), { targets: ['p1'] });
  assert.equal(parseFastArgs(['-C', 'sub', 'build', 'p1']), { dir: 'sub', targets: ['p1'] });
  assert.equal(parseFastArgs(['--dir=sub', 'build', '-j2', '--jobs=3']), { dir: 'sub', targets: [] });
  for (const argv of [
    ['build', '--json'],
    ['build', '--verbose'],
    ['build', '--dry-run'],
    ['build', '--force'],
    ['build', '--replay-logs'],
    ['build', '-j', '0'],
    ['build', '-j'],
    ['build', '--no-integrate'],
    ['watch'],
    ['validate'],
    ['--version'],
    [],
    ['-x', 'build'],
  ]) {
    assert.is(parseFastArgs(argv), undefined, argv.join(' '));
  }
});

test('signing over a base proof: its entries stand, less the dropped ones, and this build\'s supersede them, in order', () => {
  const entry = (n: number, digest?: string): SignedEntry => (digest !== undefined ? { stat: file(n, old + n, n), digest } : { stat: file(n, old + n, n) });
  const baseEntries = new Map<string, SignedEntry>([
    ['a', entry(1)],
    ['b/x', entry(2, 'db')],
    ['b/y', { stat: undefined }],
    ['c', entry(4)],
    ['d', entry(5, 'dd')],
    ['é', { ...entry(6), listing: 'Lé' }],
    ['f', { ...entry(7, 'df'), listing: 'Lf' }],
  ]);
  const base = signEntries(baseEntries);
  const own = new Map<string, SignedEntry>([
    ['c', entry(40, 'dc')], // supersedes
    ['b', { ...entry(30), listing: 'Lb' }], // new, between a and b/x; a folder
    ['z', { stat: undefined }], // new, last
    ['0', entry(10)], // new, first
  ]);
  const dropped = new Set(['d', 'a', 'not-there']);
  const merged = signEntries(own, { signed: base, dropped });
  // what signing the union from scratch gives (the order and content the merge must keep)
  const union = new Map([...baseEntries].filter(([rel]) => !dropped.has(rel)));
  for (const [rel, e] of own) union.set(rel, e);
  const whole = signEntries(union);
  assert.equal(merged.paths, whole.paths);
  assert.equal([...merged.sigs], [...whole.sigs]);
  assert.equal([...merged.digests].sort(), [...whole.digests].sort());
  assert.equal([...merged.listings].sort(), [...whole.listings].sort());
  assert.equal(merged.paths, ['0', 'b', 'b/x', 'b/y', 'c', 'f', 'z', 'é']);
  assert.equal([...merged.listings].sort(), [[1, 'Lb'], [5, 'Lf'], [7, 'Lé']], "folders' listings follow their paths");
  // and the merged proof survives its own format
  const round = parseProof(formatProof(proofOf(new Map(), { signed: merged }))!)!;
  assert.equal(round.signed.paths, merged.paths);
  assert.equal([...round.signed.sigs], [...merged.sigs]);
  assert.equal([...round.signed.listings], [...merged.listings]);
  assert.is(indexOfPath(merged, 'c'), 4);
  assert.is(indexOfPath(merged, 'é'), 7);
  assert.is(indexOfPath(merged, 'd'), -1);
  assert.is(indexOfPath(merged, ''), -1);
});

test('a proof signed over one read from a file, with the same paths, reuses its paths\' bytes; with other paths it writes its own', () => {
  const names = Array.from({ length: 300 }, (_, i) => `src/${i % 7}/${i}.txt`);
  const baseEntries = new Map<string, SignedEntry>(names.map((n, i) => [n, { stat: file(i, old + i, i) }]));
  const read = parseProof(formatProof(proofOf(new Map(), { signed: signEntries(baseEntries) }))!)!;
  assert.ok(read.signed.text, 'a proof read from a file keeps its paths\' bytes');
  const fresh = (signed: ReturnType<typeof signEntries>) => formatProof(proofOf(new Map(), { signed: { paths: signed.paths, sigs: signed.sigs, digests: signed.digests, listings: signed.listings } }))!;
  const cases: Array<[string, Map<string, SignedEntry>, Set<string>, boolean]> = [
    ['superseding only', new Map([[names[5]!, { stat: file(99, old + 99, 5) }], [names[250]!, { stat: undefined }]]), new Set(), true],
    ['dropping a path it does not hold', new Map([[names[9]!, { stat: file(9, old + 9, 1) }]]), new Set(['nowhere']), true],
    ['a new path', new Map([['src/new.txt', { stat: file(1, old, 1) }]]), new Set(), false],
    ['a dropped path', new Map(), new Set([names[3]!]), false],
    ['a path dropped and signed again', new Map([[names[3]!, { stat: file(3, old + 3, 3) }]]), new Set([names[3]!]), true],
  ];
  for (const [what, own, dropped, reused] of cases) {
    const merged = signEntries(own, { signed: read.signed, dropped });
    assert.is(merged.text !== undefined, reused, what);
    // the same bytes either way
    assert.ok(formatProof(proofOf(new Map(), { signed: merged }))!.equals(fresh(merged)), what);
  }
});

test('signing over a large base: runs copied whole give what signing the union from scratch gives', () => {
  // a small deterministic generator: the same cases every run
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const name = (i: number): string => `src/${String(i % 97).padStart(2, '0')}/${i}.txt`;
  for (let round = 0; round < 20; round++) {
    const baseEntries = new Map<string, SignedEntry>();
    for (let i = 0; i < 2000; i++) {
      if (rand(4) === 0) continue;
      baseEntries.set(name(i), rand(5) === 0 ? { stat: file(i, old + i, i), digest: `d${i}` } : rand(9) === 0 ? { stat: undefined } : { stat: file(i, old + i, i) });
    }
    const base = signEntries(baseEntries);
    const own = new Map<string, SignedEntry>();
    const dropped = new Set<string>();
    for (let n = rand(40); n > 0; n--) {
      const i = rand(2100);
      own.set(name(i), rand(3) === 0 ? { stat: file(i + 1, old + i + 1, i), digest: `o${i}` } : { stat: file(i + 1, old + i + 1, i) });
    }
    for (let n = rand(10); n > 0; n--) dropped.add(name(rand(2100)));
    const merged = signEntries(own, { signed: base, dropped });
    const union = new Map([...baseEntries].filter(([rel]) => !dropped.has(rel)));
    for (const [rel, e] of own) union.set(rel, e);
    const whole = signEntries(union);
    assert.equal(merged.paths, whole.paths, `round ${round}`);
    assert.equal([...merged.sigs], [...whole.sigs], `round ${round}`);
    assert.equal([...merged.digests].sort((x, y) => x[0] - y[0]), [...whole.digests].sort((x, y) => x[0] - y[0]), `round ${round}`);
  }
});

test.run();
