// phase-1/config/generate:  node scripts/generate.mjs src/app.conf gen/config.json
// Turns `key = value` lines into a JSON file that the build stamps into every module.
import * as fs from 'node:fs';
import { writeFile } from './files.mjs';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  console.error('usage: generate.mjs <app.conf> <config.json>');
  process.exit(2);
}
const config = {};
for (const line of fs.readFileSync(from, 'utf8').split('\n')) {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) continue;
  const eq = text.indexOf('=');
  if (eq < 0) continue; // check-config reports it
  config[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
}
const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFile(to, JSON.stringify(sorted, null, 2) + '\n');
console.log(`generated ${to} (${Object.keys(sorted).length} keys)`);
