import { rmSync } from 'node:fs';
import path from 'node:path';
import type { ProjectFiles } from './services.js';

export function createProjectFiles(root: string): ProjectFiles {
  return {
    async remove(relPaths) {
      // Files (what the globber lists), each an unlink on this thread: a thread-pool round
      // trip each cost more than the unlink, on the path of every task that cleans its outputs
      // before it runs (the default), one after the other along a touch's chain of tasks.
      for (const p of relPaths) rmSync(path.join(root, p), { force: true });
    },
  };
}
