import { createHash, type Hash } from 'node:crypto';

/** sha256 of the bytes (strings as UTF-8), lowercase hex: the one content hash uet uses everywhere. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha1 of a line's text, lowercase hex: the checksum of cacache's index lines, and of the entry logs' lines after them (not a content hash) */
export function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** cacache's name for a sha256 (hex): Subresource Integrity, base64 of the raw digest */
export function integrityOf(hexHash: string): string {
  return `sha256-${Buffer.from(hexHash, 'hex').toString('base64')}`;
}

/**
 * Builds a task key from ordered, labelled parts. Each label and value is length-prefixed
 * (byte length, then the bytes), so no two different part lists can produce the same byte
 * stream: ("ab","c") and ("a","bc") hash differently, and so does a value that happens to
 * contain a label. The order of `add` calls is part of the key: callers sort what has no
 * natural order (file lists, env names) before adding.
 */
export class KeyBuilder {
  // The framed byte stream is assembled in one buffer and hashed with a single update: a
  // key has ~25 parts, and two native hash updates plus two buffers per part cost more than
  // the hashing itself (measured: ~27 µs → ~6 µs a key). The bytes hashed are unchanged.
  // under half of Buffer.poolSize: a slice of node's shared pool, not an allocation of its own
  private buf = Buffer.allocUnsafe(4000);
  private used = 0;
  private done = false;

  add(label: string, value: string | Uint8Array): this {
    if (this.done) throw new Error('KeyBuilder.add after digest()');
    this.frame(label);
    this.frame(value);
    return this;
  }

  digest(): string {
    if (this.done) throw new Error('KeyBuilder.digest called twice');
    this.done = true;
    return createHash('sha256').update(this.buf.subarray(0, this.used)).digest('hex');
  }

  private frame(part: string | Uint8Array): void {
    // fixed-width length (8 bytes, big-endian): a decimal prefix would need its own terminator
    const max = typeof part === 'string' ? part.length * 3 : part.byteLength; // UTF-8 is at most 3 bytes per UTF-16 unit
    this.reserve(8 + max);
    const at = this.used + 8;
    let n: number;
    if (typeof part === 'string') n = this.buf.write(part, at, 'utf8');
    else {
      this.buf.set(part, at);
      n = part.byteLength;
    }
    // stored byte by byte: writeUInt32BE validates its arguments on every call, which cost more
    // than the rest of a key's framing in a build that computes a few hundred keys (code V8
    // never optimises). A part is far below 4 GB: the high word is 0.
    const buf = this.buf;
    const o = this.used;
    buf[o] = buf[o + 1] = buf[o + 2] = buf[o + 3] = 0;
    buf[o + 4] = n >>> 24;
    buf[o + 5] = (n >>> 16) & 0xff;
    buf[o + 6] = (n >>> 8) & 0xff;
    buf[o + 7] = n & 0xff;
    this.used = at + n;
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + extra));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}
