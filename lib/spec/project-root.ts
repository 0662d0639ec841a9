/**
 * Where a project is. Its own module, with nothing but node builtins, because the no-op fast
 * path finds the root before any of the spec loader is loaded.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';

export const CONFIG_FILE = 'uet.config.yaml';

/** walk up from startDir to the folder holding uet.config.yaml */
export function findProjectRoot(startDir: string): string | undefined {
  let dir = resolvePath(startDir);
  for (;;) {
    const f = join(dir, CONFIG_FILE);
    if (existsSync(f)) {
      try {
        if (statSync(f).isFile()) return dir;
      } catch {
        /* vanished or unreadable: keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}
