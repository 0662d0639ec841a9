/**
 * A file's bytes built up piece by piece in one growing buffer. Joining many small strings
 * into one keeps every piece alive until the join, long enough for V8 to move them all into
 * the old generation; written here, each piece dies young, and the text itself never sits in
 * the JS heap. Writing a stat index of 20,000 rows: 16–20 MB of heap allocated with a
 * JSON.stringify per row and a join, ~1 MB this way, byte for byte the same file.
 */
export class ByteSink {
  private buf: Buffer;
  private used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const most = text.length * 3;
    if (this.used + most > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + most));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    this.used += this.buf.write(text, this.used);
  }

  get length(): number {
    return this.used;
  }

  /** the bytes written so far (a view, not a copy: valid until the next write) */
  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }
}
