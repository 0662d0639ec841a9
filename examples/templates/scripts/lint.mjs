// A tiny linter for the example: no `debugger` statements and no trailing spaces.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

let problems = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else
      readFileSync(p, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\bdebugger\b/.test(line) || / +$/.test(line)) {
            console.error(`${p}:${i + 1}: ${line.trim() || '(trailing spaces)'}`);
            problems++;
          }
        });
  }
};
for (const dir of process.argv.slice(2)) walk(dir);
if (problems > 0) process.exit(1);
console.log('lint: clean');
