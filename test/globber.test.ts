import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareBytes, createGlobber } from '../lib/hash/globber.js';

const made: string[] = [];
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function tree(files: readonly string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-glob-'));
  made.push(root);
  for (const f of files) {
    const abs = path.join(root, f);
    if (f.endsWith('/')) {
      fs.mkdirSync(abs, { recursive: true });
    } else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, f);
    }
  }
  return root;
}

const FILES = [
  'a.txt',
  'B.txt',
  '_u.txt',
  'src/index.ts',
  'src/util/x.ts',
  'src/util/deep/y.ts',
  'src/util/deep/y.js',
  'src/.hidden.ts',
  'src/.cfg/z.ts',
  'src/empty/',
  'src/folder.ts/',
  'node_modules/pkg/index.ts',
  'src/node_modules/inner/m.ts',
  '.git/HEAD',
  '.uet/stat-index',
  '.github/workflows/ci.yml',
  'gen/d1/a.out',
  'gen/d1/b.out',
  'gen/d1/c.txt',
  'gen/d2/a.out',
];

test('results are sorted in byte order, not locale order', async () => {
  const root = tree(['b.txt', 'B.txt', 'a.txt', '_.txt', 'Z.txt', 'é.txt', 'z.txt', '\u{1F600}.txt', '\uFF5E.txt']);
  const out = await createGlobber(root).expand(['*.txt']);
  const bytes = [...out].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.equal(out, bytes);
  assert.equal(out.slice(0, 5), ['B.txt', 'Z.txt', '_.txt', 'a.txt', 'b.txt']);
  // UTF-16 order would put the astral emoji before U+FF5E; UTF-8 byte order puts it after
  assert.equal(out.slice(-2), ['\uFF5E.txt', '\u{1F600}.txt']);
  assert.ok(compareBytes('\uFF5E', '\u{1F600}') < 0);
  assert.ok(compareBytes('a', 'ab') < 0);
  assert.is(compareBytes('x', 'x'), 0);
});

test('** crosses folders, matches zero folders, and skips dot folders', async () => {
  const g = createGlobber(tree(FILES));
  assert.equal(await g.expand(['src/**/*.ts']), ['src/index.ts', 'src/util/deep/y.ts', 'src/util/x.ts']);
  assert.equal(await g.expand(['src/**']), ['src/index.ts', 'src/util/deep/y.js', 'src/util/deep/y.ts', 'src/util/x.ts']);
  assert.equal(await g.expand(['**/y.*']), ['src/util/deep/y.js', 'src/util/deep/y.ts']);
  assert.equal(await g.expand(['src/*/*.ts']), ['src/util/x.ts']);
  assert.equal(await g.expand(['src/**/deep/*.{js,ts}']), ['src/util/deep/y.js', 'src/util/deep/y.ts']);
  assert.equal(await g.expand(['src/u?il/[xy].ts']), ['src/util/x.ts']);
});

test('ignored folders are skipped by ** unless the pattern names them', async () => {
  const g = createGlobber(tree(FILES));
  const all = await g.expand(['**/*.ts']);
  assert.not.ok(all.some((f) => f.includes('node_modules')), all.join());
  assert.equal(await g.expand(['node_modules/**/*.ts']), ['node_modules/pkg/index.ts']);
  assert.equal(await g.expand(['**/node_modules/**/*.ts']), ['node_modules/pkg/index.ts', 'src/node_modules/inner/m.ts']);
  // a single * is not a `**` descent: it may name node_modules
  assert.equal(await g.expand(['src/*/inner/m.ts']), ['src/node_modules/inner/m.ts']);
  assert.equal(await g.expand(['.uet/*']), ['.uet/stat-index']);

  const custom = createGlobber(tree(FILES), { ignoreDirs: ['util'] });
  assert.equal(await custom.expand(['src/**/*.ts']), ['src/index.ts', 'src/node_modules/inner/m.ts']);
});

test('an ignoreDirs entry with a slash is one root-relative folder, not a name', async () => {
  const g = createGlobber(tree(['cache/blob', 'src/cache/keep.ts', 'deep/x/y/skip.txt', 'deep/y/keep.txt']), { ignoreDirs: ['cache/', 'deep/x/y'] });
  assert.equal(await g.expand(['**']), ['deep/y/keep.txt', 'src/cache/keep.ts']);
  assert.equal(await g.expand(['cache/**']), ['cache/blob'], 'named by the pattern');
  assert.equal(await g.expand(['deep/x/**']), [], 'deep/x is not deep/x/y');
  assert.equal(await g.expand(['deep/x/y/*']), ['deep/x/y/skip.txt']);
});

test('dot files match only when the pattern spells the dot', async () => {
  const g = createGlobber(tree(FILES));
  assert.not.ok((await g.expand(['src/*'])).includes('src/.hidden.ts'));
  assert.not.ok((await g.expand(['**/*'])).some((f) => f.split('/').some((s) => s.startsWith('.'))));
  assert.equal(await g.expand(['src/.*']), ['src/.hidden.ts']);
  assert.equal(await g.expand(['src/.cfg/*.ts']), ['src/.cfg/z.ts']);
  assert.equal(await g.expand(['.github/**/*.yml']), ['.github/workflows/ci.yml']);
  assert.equal(await g.expand(['**/.hidden.ts']), ['src/.hidden.ts']);
});

test('literal paths: files only, no folders, nothing for missing paths', async () => {
  const g = createGlobber(tree(FILES));
  assert.equal(await g.expand(['src/index.ts']), ['src/index.ts']);
  assert.equal(await g.expand(['./src/index.ts']), ['src/index.ts']);
  assert.equal(await g.expand(['src/util']), []);
  assert.equal(await g.expand(['src/folder.ts']), []);
  assert.equal(await g.expand(['src/missing.ts', 'nope/x.ts']), []);
  assert.equal(await g.expand(['src/**/*.ts', 'src/*.ts']), ['src/index.ts', 'src/util/deep/y.ts', 'src/util/x.ts']);
  assert.not.ok((await g.expand(['src/*.ts'])).includes('src/folder.ts'), 'a folder named like a file is not a result');
  assert.equal(await g.expand(['src/empty/**']), []);
});

test('duplicates across globs are merged', async () => {
  const g = createGlobber(tree(FILES));
  assert.equal(await g.expand(['gen/d1/*.out', 'gen/*/a.out', 'gen/d1/a.out', 'gen/**/a.out']), ['gen/d1/a.out', 'gen/d1/b.out', 'gen/d2/a.out']);
});

test('! patterns exclude; patterns leaving the root match nothing', async () => {
  const g = createGlobber(tree(FILES));
  assert.equal(await g.expand(['gen/**', '!gen/**/*.txt', '!gen/d2/**']), ['gen/d1/a.out', 'gen/d1/b.out']);
  assert.equal(await g.expand(['../**/*.ts', '/etc/passwd', 'src/../a.txt']), []);
});

test('braces spanning folders fall back to whole-path matching', async () => {
  const g = createGlobber(tree(FILES));
  assert.equal(await g.expand(['{gen/d2,src/util}/*.{out,ts}']), ['gen/d2/a.out', 'src/util/x.ts']);
  assert.equal(await g.expand(['src/{util/deep,util}/*.ts']), ['src/util/deep/y.ts', 'src/util/x.ts']);
});

test('listings are memoised until invalidate()', async () => {
  const root = tree(['gen/a.out']);
  const g = createGlobber(root);
  assert.equal(await g.expand(['gen/*.out']), ['gen/a.out']);
  fs.writeFileSync(path.join(root, 'gen/b.out'), '');
  fs.writeFileSync(path.join(root, 'gen/c.out'), '');
  assert.equal(await g.expand(['gen/*.out']), ['gen/a.out'], 'same instance, same view');
  assert.equal(await g.expand(['gen/b.out']), [], 'a literal is answered from the memoised listing');
  g.invalidate();
  assert.equal(await g.expand(['gen/*.out']), ['gen/a.out', 'gen/b.out', 'gen/c.out']);
  assert.equal(await g.expand(['gen/b.out']), ['gen/b.out']);
});

test('symlinks: followed to files and folders, loops do not hang', async () => {
  if (process.platform === 'win32') return;
  const root = tree(['real/f.txt', 'real/sub/g.txt']);
  fs.symlinkSync('real', path.join(root, 'alias'));
  fs.symlinkSync('f.txt', path.join(root, 'real/link.txt'));
  fs.symlinkSync('..', path.join(root, 'real/sub/up')); // loop: real/sub/up/sub/up/...
  fs.symlinkSync('missing', path.join(root, 'real/dangling.txt'));
  const g = createGlobber(root);
  const all = await g.expand(['**/*.txt']);
  assert.ok(all.includes('real/link.txt'));
  assert.ok(all.includes('alias/f.txt'));
  assert.ok(all.includes('alias/sub/g.txt'));
  assert.not.ok(all.includes('real/dangling.txt'));
  assert.ok(all.length < 20, all.join('\n'));
  assert.equal(await g.expand(['alias/sub/*.txt']), ['alias/sub/g.txt']);
});

test.run();
