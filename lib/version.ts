import { readFileSync } from 'node:fs';

/** uet's own version, from package.json (dist/lib/version.js, or the dist/bundle file holding this code → ../../package.json). */
export const UET_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
