/**
 * The index of which tasks name which paths (lib/graph/task-paths.ts): where a glob starts and
 * how deep it reaches, and the two forms of the index answering alike.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedTaskPaths, cacheTaskPaths, globReach, indexTaskPaths, literalFolder, selfAndAncestors, type TaskGlobs } from '../lib/graph/task-paths.js';

test('where a glob starts, and how deep below it it may list', () => {
  assert.is(literalFolder('src/a/*.ts'), 'src/a');
  assert.is(literalFolder('src/a/b.ts'), 'src/a');
  assert.is(literalFolder('*.md'), '');
  assert.is(literalFolder('{src,lib}/x.ts'), '');
  assert.is(literalFolder('src/a+(b)/x'), 'src');
  assert.equal(globReach('src/*/x/*.ts'), { folder: 'src', depth: 2 });
  assert.equal(globReach('src/**/*.ts'), { folder: 'src', depth: Infinity });
  assert.equal(globReach('src/a.ts'), { folder: 'src', depth: 0 });
  assert.equal(selfAndAncestors('src/w/a.txt'), ['src/w/a.txt', 'src/w', 'src', '']);
  assert.equal(selfAndAncestors('a'), ['a', '']);
  assert.equal(selfAndAncestors(''), ['']);
});

const TASKS: TaskGlobs[] = [
  { key: 't:a', globs: ['src/a.txt', 'src/w/*.ts'] },
  { key: 't:b', globs: ['src/w/b.txt', 'docs/**/*.md', 'lib/*.js'] },
  { key: 't:c', globs: ['*.json', '!src/w/skip.ts'] },
  { key: 't:d', globs: ['odd\tname/*.txt'] },
];

test('the cached index answers as the one in memory: literal paths by folder, other globs by the folder they start in', () => {
  const keys = TASKS.map((t) => t.key);
  const memory = indexTaskPaths(TASKS);
  const cached = cachedTaskPaths(cacheTaskPaths(TASKS, (k) => keys.indexOf(k)), keys);
  for (const index of [memory, cached]) {
    assert.equal([...index.namedIn('src')].sort(), ['t:a']);
    assert.equal([...index.namedIn('src/w')].sort(), ['t:b']);
    assert.equal([...index.namedIn('')], []);
    const keysIn = (folders: string[]): string[] => index.patternedIn(folders).map((t) => t.key).sort();
    assert.equal(keysIn(['src/w']), ['t:a']);
    assert.equal(keysIn(['src/w', 'docs', 'lib']), ['t:a', 't:b'], 'each task once');
    assert.equal(keysIn(['']), ['t:c'], 'negations are left out');
    assert.equal(keysIn(['odd\tname']), ['t:d'], 'a folder with a tab');
    assert.equal(keysIn(['src']), []);
    assert.equal(index.patternedIn(['lib'])[0]?.globs, ['docs/**/*.md', 'lib/*.js']);
  }
});

test('a damaged line of the cached index says so, naming the file to delete', () => {
  const index = cachedTaskPaths({ literal: '\n', patterned: '\n"src"\t0\t[not json\n' }, ['t:a']);
  assert.throws(() => index.patternedIn(['src']), /compiled-graph cache .*delete \.uet\/graph\.json/);
  const outOfRange = cachedTaskPaths({ literal: '\n', patterned: '\n"src"\t7\t["src/*"]\n' }, ['t:a']);
  assert.throws(() => outOfRange.patternedIn(['src']), /damaged/);
});

test.run();
