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
