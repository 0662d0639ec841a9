#!/usr/bin/env node
// uet's own lint (phases/phase-1.yaml, static/lint):  node scripts/lint.mjs [DIR|FILE...]   (default: lib)
// Checks every .ts file under the folders (and the files named) for:
//   - `any` as a type: `: any`, `<any>`, `as any`, and `any` as a type argument (`Map<string, any>`)
//   - trailing whitespace, tab characters, a missing final newline
// Prints file:line: message for each violation and exits 1 if there is any.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ANY_RULES = [
  [/:\s*any\b(?![\w$])/, "': any' type annotation"],
  [/<\s*any\s*>/, "'<any>'"],
  [/\bas\s+any\b(?![\w$])/, "'as any'"],
  [/[<,]\s*any\s*(?:\[\s*\])?\s*[,>]/, "'any' type argument"],
];

function listTs(dir) {
  if (fs.statSync(dir).isFile()) return [dir];
  const found = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(p);
      } else if (entry.isFile() && (p.endsWith('.ts') || p.endsWith('.cts'))) {
        found.push(p);
      }
    }
  };
  walk(dir);
  return found;
}

/** The line with string literals and comments blanked out, so that `any` in text is not flagged. */
function codeOnly(line, state) {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (state.block) {
      if (c === '*' && line[i + 1] === '/') {
        state.block = false;
        i++;
      }
      continue;
    }
    if (c === '/' && line[i + 1] === '*') {
      state.block = true;
      i++;
      continue;
    }
    if (c === '/' && line[i + 1] === '/') break;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < line.length && line[j] !== c) j += line[j] === '\\' ? 2 : 1;
      out += ' ';
      i = j;
      continue;
    }
    out += c;
  }
  return out;
}

function lintText(file, text) {
  const problems = [];
  const lines = text.split('\n');
  const state = { block: false };
  lines.forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    if (line.includes('\t')) problems.push(`${where}: tab character`);
    if (/[ \t\r]+$/.test(line)) problems.push(`${where}: trailing whitespace`);
    const code = codeOnly(line, state);
    for (const [re, what] of ANY_RULES) {
      if (re.test(code)) {
        problems.push(`${where}: ${what} (use unknown or a real type)`);
        break;
      }
    }
  });
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${file}:${lines.length}: no newline at end of file`);
  return problems;
}

const dirs = process.argv.slice(2);
const files = (dirs.length > 0 ? dirs : ['lib'])
  .flatMap((d) => listTs(d))
  .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const problems = files.flatMap((f) => lintText(f.split(path.sep).join('/'), fs.readFileSync(f, 'utf8')));
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`lint: ${problems.length} problem(s) in ${files.length} files`);
  process.exit(1);
}
console.log(`lint: ${files.length} files ok`);
