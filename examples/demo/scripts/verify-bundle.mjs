// phase-3 GATE_RELEASE run:  node scripts/verify-bundle.mjs out/bundle.txt out/bundle.sha256
// The release gate's own check: the checksum file matches the bundle, and the bundle holds
// the modules of both workstreams.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

const [file, sumFile] = process.argv.slice(2);
if (!file || !sumFile) {
  console.error('usage: verify-bundle.mjs <bundle> <sum-file>');
  process.exit(2);
}
const problems = [];
const bundle = fs.readFileSync(file);
const expected = fs.readFileSync(sumFile, 'utf8').split(/\s+/)[0];
const actual = createHash('sha256').update(bundle).digest('hex');
if (expected !== actual) problems.push(`${sumFile} says ${expected}, ${file} hashes to ${actual}`);
for (const part of ['=== dist/core/', '=== dist/cli/']) {
  if (!bundle.toString('utf8').includes(part)) problems.push(`${file} holds no '${part}' section`);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`release ok: ${file} ${actual}`);
