// phase-2 compile tasks:  node scripts/build.mjs src/core dist/core
// "Compiles" each module of a source folder into the dist folder, stamped with the name and
// version from gen/config.json. The dist folder is rewritten whole, so no stale file survives.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listFiles, writeFile } from './files.mjs';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  console.error('usage: build.mjs <src-dir> <dist-dir>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync('gen/config.json', 'utf8'));
fs.rmSync(to, { recursive: true, force: true });
const files = listFiles(from).filter((f) => f.endsWith('.mjs'));
for (const file of files) {
  const out = path.posix.join(to, path.posix.relative(from, file));
  const banner = `// ${config.name} ${config.version}: built from ${file}\n`;
  writeFile(out, banner + fs.readFileSync(file, 'utf8'));
}
console.log(`built ${files.length} modules into ${to}`);
