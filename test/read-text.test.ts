import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTextFile } from '../lib/util/read-text.js';

test("a file's text is what readFileSync gives as UTF-8: ASCII, other UTF-8, and bytes that are not UTF-8", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-read-text-'));
  try {
    const cases: Array<string | Buffer> = ['plain ascii\n{"v":2}', 'ünï → ×\n', Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3]), '', Buffer.from([0x7f, 0x00, 0x41])];
    cases.forEach((data, i) => {
      const file = path.join(dir, `f${i}`);
      fs.writeFileSync(file, data);
      assert.is(readTextFile(file), fs.readFileSync(file, 'utf8'), `case ${i}`);
      const fd = fs.openSync(file, 'r');
      try {
        assert.is(readTextFile(fd), fs.readFileSync(file, 'utf8'), `case ${i}, by descriptor`);
      } finally {
        fs.closeSync(fd);
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
