// phase-2 GATE_SIZE run (non-blocking):  node scripts/size-report.mjs dist 8192
// Reports the size of a folder; exits 1 when it is over the budget (bytes).
import * as fs from 'node:fs';
import { listFiles } from './files.mjs';

const dir = process.argv[2] ?? 'dist';
const budget = Number(process.argv[3] ?? 8192);
const files = listFiles(dir);
const total = files.reduce((n, f) => n + fs.statSync(f).size, 0);
console.log(`${dir}: ${files.length} files, ${total} bytes (budget ${budget})`);
if (total > budget) {
  console.error(`${dir} is ${total - budget} bytes over its budget`);
  process.exit(1);
}
