import { statSync, type Stats } from 'node:fs';
import type { StatLike } from '../hash/types.js';

/** A path's stat, or undefined when it does not exist or cannot be stat'ed (the callers only compare stats). */
export function statQuiet(abs: string): Stats | undefined {
  try {
    return statSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * statQuiet's answer cut to the five numbers a stat signature compares. An fs.Stats holds
 * fourteen, and the no-op proof keeps one per signed path (20,000 at 10,000 tasks) until it is
 * written.
 */
export function statSignedQuiet(abs: string): StatLike | undefined {
  const st = statQuiet(abs);
  return st && { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode };
}
