// The `style` tool (uet.config.yaml):  node scripts/check-style.mjs DIR...
// No tabs, no trailing whitespace, a final newline. Lists file:line for each violation.
import * as fs from 'node:fs';
import { listFiles } from './files.mjs';

const dirs = process.argv.slice(2);
const problems = [];
let count = 0;
for (const file of (dirs.length > 0 ? dirs : ['src']).flatMap(listFiles)) {
  count++;
  const text = fs.readFileSync(file, 'utf8');
  text.split('\n').forEach((line, i) => {
    if (line.includes('\t')) problems.push(`${file}:${i + 1}: tab`);
    if (/[ \t]+$/.test(line)) problems.push(`${file}:${i + 1}: trailing whitespace`);
  });
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${file}: no newline at end of file`);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`style: ${count} files ok`);
