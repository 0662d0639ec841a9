// phase-3/package/checksum:  node scripts/checksum.mjs out/bundle.txt out/bundle.sha256
// Writes the file's SHA-256 in `sha256sum` format.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFile } from './files.mjs';

const [file, to] = process.argv.slice(2);
if (!file || !to) {
  console.error('usage: checksum.mjs <file> <sum-file>');
  process.exit(2);
}
const hex = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
writeFile(to, `${hex}  ${path.basename(file)}\n`);
console.log(`${hex}  ${file}`);
