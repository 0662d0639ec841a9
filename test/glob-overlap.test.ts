import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { globsOverlap } from '../lib/spec/glob-overlap.js';

/** [a, b, could some path match both?] — each pair is checked both ways */
const TABLE: ReadonlyArray<readonly [string, string, boolean]> = [
  // literal vs literal
  ['lib/a.ts', 'lib/a.ts', true],
  ['lib/a.ts', 'lib/b.ts', false],
  ['./lib/a.ts', 'lib//a.ts', true],
  // literal vs glob
  ['lib/**', 'lib/a.ts', true],
  ['lib/*.ts', 'lib/a.ts', true],
  ['lib/*.ts', 'lib/a.js', false],
  ['lib/*.ts', 'lib/x/a.ts', false],
  ['lib/?.ts', 'lib/ab.ts', false],
  ['lib/?.ts', 'lib/a.ts', true],
  // a plain name may be a folder: it covers what is below it (conservative)
  ['lib', 'lib/a.ts', true],
  ['lib/parser', 'lib/parser/**/*.ts', true],
  ['lib/parser', 'lib/lexer/*.ts', false],
  ['docs/readme.md', 'docs/**/*.ts', false],
  ['.github', '.github/workflows/ci.yml', true],
  // glob vs glob, one segment
  ['lib/*.ts', 'lib/x/*.ts', false],
  ['*.ts', '*.js', false],
  ['*.ts', 'a*', true],
  ['a*b', '*c', false],
  ['a*b', 'a*', true],
  ['*.test.ts', '*.ts', true],
  ['*.d.ts', '*.test.ts', false], // one ends in 'd.ts', the other in 't.ts'
  ['*.d.ts', 'index.*', true],
  // globstar
  ['src/**/*.ts', 'src/a/*.js', false],
  ['src/**/*.ts', 'src/a/b/c.ts', true],
  ['src/**/test/*.ts', 'src/a/*.ts', false],
  ['src/**/test/*.ts', 'src/*/*.ts', true], // src/test/x.ts
  ['**/*.ts', 'docs/readme.md', false],
  ['**', 'anything/at/all', true],
  ['a/**/b', 'a/b', true],
  ['a/**/b/**/c', 'a/x/y/b/c', true],
  ['a/**/b/**/c.ts', 'a/x/c.ts', false],
  ['a/**/b/**/c', 'a/x/c', true], // a/x/c may be a folder: a/x/c/b/c
  ['src/**', 'lib/**', false],
  ['**/node_modules/**', 'lib/**', true],
  ['**/*.ts', '**/*.js', false],
  ['lib/**/gen/*.ts', 'lib/**/*.ts', true],
  // char classes
  ['lib/[abc].ts', 'lib/b.ts', true],
  ['lib/[abc].ts', 'lib/d.ts', false],
  ['lib/[a-c].ts', 'lib/[x-z].ts', false],
  ['lib/[a-m].ts', 'lib/[k-z].ts', true],
  ['lib/[!a].ts', 'lib/a.ts', false],
  ['lib/[!a].ts', 'lib/b.ts', true],
  ['lib/[!a].ts', 'lib/[!b].ts', true],
  ['lib/[[:alpha:]].ts', 'lib/x.ts', true],
  // braces
  ['lib/{a,b}.ts', 'lib/b.ts', true],
  ['lib/{a,b}.ts', 'lib/c.ts', false],
  ['lib/*.{ts,tsx}', 'lib/*.js', false],
  ['lib/*.{ts,tsx}', 'lib/x.tsx', true],
  ['{lib,src}/**', 'src/a.ts', true],
  ['{lib,src}/**', 'test/a.ts', false],
  ['lib/{a,{b,c}}.ts', 'lib/c.ts', true],
  ['lib/file{1..3}.ts', 'lib/file2.ts', true],
  // extglobs and negation: unsure, so true when the rest allows it
  ['lib/@(a|b).ts', 'lib/c.ts', true],
  ['lib/+(a|b)/x.ts', 'src/x.ts', false],
  ['!lib/**', 'lib/a.ts', true],
  // escapes
  ['lib/\\*.ts', 'lib/a.ts', false],
  ['lib/\\*.ts', 'lib/*.ts', true],
];

test('globsOverlap: the table, both ways', () => {
  for (const [a, b, want] of TABLE) {
    assert.is(globsOverlap(a, b), want, `${a} vs ${b}`);
    assert.is(globsOverlap(b, a), want, `${b} vs ${a}`);
  }
});

test('globsOverlap: an exhaustive check against picomatch over small paths', async () => {
  const { default: picomatch } = await import('picomatch');
  const globs = ['a/*', 'a/**', '*/b', '**/b', 'a/b', 'a', '*', '**', 'a/*/b', 'a/**/b', '*.x', 'a/*.x', '**/*.x', 'b/**', '[ab]/b', '{a,b}/x.x', '?/b'];
  const segs = ['a', 'b', 'x.x', 'ab'];
  const paths: string[] = [];
  for (const s1 of segs) {
    paths.push(s1);
    for (const s2 of segs) {
      paths.push(`${s1}/${s2}`);
      for (const s3 of segs) paths.push(`${s1}/${s2}/${s3}`);
    }
  }
  for (const a of globs) {
    for (const b of globs) {
      const ma = picomatch(a);
      const mb = picomatch(b);
      const witness = paths.find((p) => ma(p) && mb(p));
      const got = globsOverlap(a, b);
      // never a false "no": that would hide a real conflict
      if (witness !== undefined) assert.ok(got, `${a} vs ${b}: both match ${witness}`);
      // and no needless "yes", except where a plain name may be a folder
      const plainEnd = (g: string): boolean => /(^|\/)[a-z]+$/.test(g);
      if (witness === undefined && !plainEnd(a) && !plainEnd(b)) assert.not.ok(got, `${a} vs ${b}: no shared path`);
    }
  }
});

test.run();
