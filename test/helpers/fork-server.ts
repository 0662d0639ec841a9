import { spawnSync } from 'node:child_process';

/**
 * The name (/proc/<pid>/comm) of the fork server a lane starts by default, as its commands see
 * their parent: Python's where this machine has a Python that can run it (3.8 or later, with
 * os.posix_spawn), else Perl's (lib/exec/fork-server.ts).
 */
export const DEFAULT_SERVER_COMM =
  // found as uet finds it: with an empty environment, so on the default path
  spawnSync('python3', ['-I', '-S', '-c', 'import os, sys; sys.exit(0 if sys.version_info >= (3, 8) and hasattr(os, "posix_spawn") else 3)'], { env: {} }).status === 0 ? 'python3' : 'perl';
