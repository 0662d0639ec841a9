// phase-1/config/check-config (static):  node scripts/check-config.mjs src/app.conf
import * as fs from 'node:fs';

const file = process.argv[2] ?? 'src/app.conf';
const required = ['name', 'version', 'greeting'];
const problems = [];
const seen = new Set();
fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return;
  const eq = text.indexOf('=');
  if (eq < 0) {
    problems.push(`${file}:${i + 1}: expected 'key = value'`);
    return;
  }
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  if (seen.has(key)) problems.push(`${file}:${i + 1}: duplicate key '${key}'`);
  seen.add(key);
  if (key === 'version' && !/^\d+\.\d+\.\d+$/.test(value)) {
    problems.push(`${file}:${i + 1}: version '${value}' is not MAJOR.MINOR.PATCH`);
  }
});
for (const key of required) if (!seen.has(key)) problems.push(`${file}: missing key '${key}'`);
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${file}: ok`);
