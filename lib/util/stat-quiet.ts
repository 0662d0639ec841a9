import { statSync, type Stats } from 'node:fs';

/** A path's stat, or undefined when it does not exist or cannot be stat'ed (the callers only compare stats). */
export function statQuiet(abs: string): Stats | undefined {
  try {
    return statSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
