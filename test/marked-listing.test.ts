/** A folder's entries as a proof's listing digest holds them (lib/util/marked-listing.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listFolder, markedListing, markedName } from '../lib/util/marked-listing.js';
import { makeProject, removeProject } from './helpers/project.js';

test('a folder is marked /, a symlink @ (whatever it points to), anything else plain; a folder that cannot be listed has no listing', () => {
  assert.is(markedName('a', { folder: true, link: false }), 'a/');
  assert.is(markedName('a', { folder: false, link: true }), 'a@');
  assert.is(markedName('a', { folder: true, link: true }), 'a@');
  assert.is(markedName('a.txt', { folder: false, link: false }), 'a.txt');
  const dir = makeProject({ 'f/file.txt': 'x', 'f/sub/inner.txt': 'y' });
  try {
    fs.symlinkSync('sub', path.join(dir, 'f/link'));
    const listed = listFolder(path.join(dir, 'f'))!;
    assert.equal(listed.names.sort(), ['file.txt', 'link', 'sub']);
    assert.equal(listed.marked.sort(), ['file.txt', 'link@', 'sub/']);
    assert.equal(markedListing(path.join(dir, 'f'))!.sort(), listed.marked);
    assert.is(listFolder(path.join(dir, 'f/file.txt')), undefined, 'a file');
    assert.is(markedListing(path.join(dir, 'nowhere')), undefined);
  } finally {
    removeProject(dir);
  }
});

test.run();
