/**
 * The stat index's rows as the file holds them, sorted by path and looked up in place.
 *
 * A row is the JSON text `["path",size,"mtime","ctime","ino",mode,"hash"]`, and rows are
 * separated by single commas, so `"],["` (a row's closing quote and bracket, the comma, the
 * next row's bracket and opening quote) can only be a boundary: a quote inside a JSON string is
 * escaped. Rows are written sorted by their quoted path (compareQuoted), so a path is found by
 * a binary search over the text's offsets: ~15 short scans for 20,000 rows, where splitting the
 * text into rows and a map of them took ~20 ms of every build at 10,000 tasks, most of which
 * look up a few hundred paths.
 */

/** between two rows: the first's closing quote and bracket, a comma, the next one's bracket and opening quote */
const ROW_GAP = '"],["';
/** a path JSON writes as it is, between quotes */
const PLAIN_PATH = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** a path as the row's text holds it: JSON-quoted */
export function quotedPath(p: string): string {
  return PLAIN_PATH.test(p) ? `"${p}"` : JSON.stringify(p);
}

/** the order rows are written in: by quoted path, in UTF-16 code units (what `<` compares) */
export function compareQuoted(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SortedRows {
  /** `body`: the rows between the index's head and tail, as written (sorted, comma-separated) */
  constructor(private readonly body: string) {}

  /** the row of `path`, or undefined; a damaged row is at worst not found */
  find(path: string): string | undefined {
    const needle = quotedPath(path);
    const body = this.body;
    // rows starting in [lo, hi) are still candidates
    let lo = 0;
    let hi = body.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const start = this.rowStartFrom(mid);
      if (start >= hi) {
        hi = mid;
        continue;
      }
      const quoted = quotedAt(body, start);
      // a damaged row: its neighbours are still found, one by one
      if (quoted === undefined) return this.scan(needle);
      const order = compareQuoted(quoted, needle);
      if (order === 0) return this.rowAt(start);
      if (order < 0) lo = this.rowEnd(start) + 1;
      else hi = start;
    }
    return undefined;
  }

  /** every row in file order (sorted or not), with its path, quoted and not, when it has a readable one */
  *rows(): Generator<{ readonly quoted: string | undefined; readonly path: string | undefined; readonly row: string }> {
    let start = 0;
    while (start < this.body.length) {
      const row = this.rowAt(start);
      const quoted = quotedAt(this.body, start);
      yield { quoted, path: quoted === undefined ? undefined : unquotedPath(quoted), row };
      start += row.length + 1;
    }
  }

  private scan(needle: string): string | undefined {
    for (const { quoted, row } of this.rows()) if (quoted === needle) return row;
    return undefined;
  }

  /** the offset of the first row starting at or after `pos` (the text's length when none does) */
  private rowStartFrom(pos: number): number {
    if (pos <= 0) return 0;
    const gap = this.body.indexOf(ROW_GAP, pos - 3);
    return gap < 0 ? this.body.length : gap + 3;
  }

  /** the offset just past the row starting at `start` (its closing bracket included) */
  private rowEnd(start: number): number {
    const gap = this.body.indexOf(ROW_GAP, start);
    return gap < 0 ? this.body.length : gap + 2;
  }

  private rowAt(start: number): string {
    return this.body.slice(start, this.rowEnd(start));
  }
}

/** the path a quoted path stands for, or undefined when its escapes are damaged */
export function unquotedPath(quoted: string): string | undefined {
  if (!quoted.includes('\\')) return quoted.slice(1, -1);
  try {
    const parsed: unknown = JSON.parse(quoted);
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** the quoted path that the row starting at `start` opens with, or undefined when it does not open with one */
export function quotedAt(body: string, start: number): string | undefined {
  if (!body.startsWith('["', start)) return undefined;
  // most paths hold no backslash: their first quote closes them, found natively (a fold walks
  // every row of the index, a build every row of the journal)
  const close = body.indexOf('"', start + 2);
  if (close < 0) return undefined;
  const quoted = body.slice(start + 1, close + 1);
  if (!quoted.includes('\\')) return quoted;
  for (let i = start + 2; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 0x5c) i++; // a backslash escapes the next character
    else if (c === 0x22) return body.slice(start + 1, i + 1);
  }
  return undefined;
}
