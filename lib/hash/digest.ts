import { createHash, type Hash } from 'node:crypto';

/** sha256 of the bytes (strings as UTF-8), lowercase hex: the one content hash uet uses everywhere. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
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
  private readonly hash: Hash = createHash('sha256');
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
    return this.hash.digest('hex');
  }

  private frame(part: string | Uint8Array): void {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    // fixed-width length: a decimal prefix would need its own terminator
    const len = Buffer.allocUnsafe(8);
    len.writeBigUInt64BE(BigInt(bytes.byteLength));
    this.hash.update(len);
    this.hash.update(bytes);
  }
}
