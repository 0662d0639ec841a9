// phase-3/package/bundle:  node scripts/bundle.mjs dist out/bundle.txt
// Concatenates every file under dist, in byte order, each under a header line.
import * as fs from 'node:fs';
import { listFiles, writeFile } from './files.mjs';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  console.error('usage: bundle.mjs <dir> <bundle>');
  process.exit(2);
}
const files = listFiles(from);
if (files.length === 0) {
  console.error(`bundle: nothing under ${from}`);
  process.exit(1);
}
writeFile(to, files.map((f) => `=== ${f} ===\n${fs.readFileSync(f, 'utf8')}`).join(''));
console.log(`bundled ${files.length} files into ${to}`);
