/** Root-relative globs and paths: normalised, and checked not to leave the project root. */

const GLOB_CHARS = /[*?[\]{}()!+@]/;
/** a leading / \\ ~ ! or drive letter, an empty, `.` or `..` segment, or a brace with `..` */
export const NEEDS_WORK = /^[/\\~!]|^[A-Za-z]:|\/\/|(?:^|\/)\.{1,2}(?:\/|$)|\/$|\.\./;

/**
 * The normal form of a root-relative glob or path (`./a//b/../c` -> `a/c`, `.` -> ''), or
 * undefined when it is absolute or could leave the root (`../x`, `a/../../x`, `**\/../x`).
 * A `..` after a glob segment is kept as written (its meaning depends on the match) but counted.
 * A leading `!` (negation) is kept.
 */
export function normaliseRootRelative(p: string): string | undefined {
  // the common case: nothing to normalise, nothing that could leave the root
  if (!NEEDS_WORK.test(p)) return p;
  if (p.startsWith('!')) {
    const rest = normaliseRootRelative(p.slice(1));
    return rest === undefined ? undefined : `!${rest}`;
  }
  if (p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('~')) return undefined;
  // `..` hidden in brace alternatives ({../x,y}): cannot be normalised segment-wise
  if (/[{,]\.\.(?:[/},]|$)/.test(p)) return undefined;
  const out: string[] = [];
  let depth = 0; // the fewest folders below the root a match can be at this point
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      const top = out[out.length - 1];
      depth--;
      if (depth < 0) return undefined;
      if (top !== undefined && top !== '..' && top !== '**' && !GLOB_CHARS.test(top)) out.pop();
      else out.push(seg);
      continue;
    }
    if (seg !== '**') depth++;
    out.push(seg);
  }
  return out.join('/');
}

/** POSIX shell quoting, only where needed */
export function shellQuote(s: string): string {
  if (s === '') return "''";
  if (/^[A-Za-z0-9_\-.,:/@%+=]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
