import fs from 'node:fs/promises';
import path from 'node:path';
import type { ProjectFiles } from './services.js';

export function createProjectFiles(root: string): ProjectFiles {
  return {
    async remove(relPaths) {
      await Promise.all(relPaths.map((p) => fs.rm(path.join(root, p), { force: true })));
    },
  };
}
