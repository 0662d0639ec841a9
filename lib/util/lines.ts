/**
 * Each non-empty line of `text` (split on '\n'), without first splitting the whole text into an
 * array: the append-only logs run to megabytes at 10,000 tasks.
 */
export function forEachLine(text: string, visit: (line: string) => void): void {
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) visit(text.slice(start, end));
    start = end + 1;
  }
}

/**
 * Searching an append-only log's bytes backwards, from its end, for the last line that begins
 * with `prefix` and that `take` answers for (a torn or garbled line it refuses is passed over
 * for the one before): a build asking about a few of 10,000 records reads none of the others.
 * `midFile`: the bytes begin inside the file, so a match at their very start cannot be told to
 * begin a line, and is not taken (the caller reads more).
 */
export function lastLineWith<T>(bytes: Buffer, prefix: string, take: (line: string) => T | undefined, midFile = false): T | undefined {
  const needle = Buffer.from(prefix, 'utf8');
  for (let at = bytes.lastIndexOf(needle); at >= 0; at = at > 0 ? bytes.lastIndexOf(needle, at - 1) : -1) {
    // a line starts after a newline, or at the file's start
    if (at > 0 ? bytes[at - 1] !== NEWLINE : midFile) continue;
    const end = bytes.indexOf(NEWLINE, at);
    const taken = take(bytes.toString('utf8', at, end < 0 ? bytes.length : end));
    if (taken !== undefined) return taken;
  }
  return undefined;
}

export const NEWLINE = 0x0a;
