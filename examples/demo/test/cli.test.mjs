// phase-2/cli/test (runtime): tests the built CLI module against the generated config.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { main } from '../dist/cli/main.mjs';

const config = JSON.parse(fs.readFileSync('gen/config.json', 'utf8'));
assert.equal(main(['1', '2', 'x', '39'], config), `${config.greeting}, ${config.name}! sum=42`);
assert.match(fs.readFileSync('dist/cli/main.mjs', 'utf8'), new RegExp(`^// ${config.name} ${config.version}:`));
console.log('cli: 2 checks passed');
