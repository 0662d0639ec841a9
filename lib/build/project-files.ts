import path from 'node:path';
import { removeFile } from '../util/remove-file.js';
import type { ProjectFiles } from './services.js';

export function createProjectFiles(root: string): ProjectFiles {
  return {
    async remove(relPaths) {
      // Files (what the globber lists), each an unlink on this thread: a thread-pool round
      // trip each cost more than the unlink, on the path of every task that cleans its outputs
      // before it runs (the default), one after the other along a touch's chain of tasks.
      for (const p of relPaths) removeFile(path.join(root, p));
    },
  };
}
