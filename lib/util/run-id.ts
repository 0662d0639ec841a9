/**
 * A run's id for the no-op fast path: a ULID (48 bits of time in ms, then 80 random bits, in
 * Crockford's base32) as the ulid package makes them. That package imports node:crypto, which
 * took ~4 ms of every no-op and every served build's client, neither of which hashes anything.
 * The random bytes come from /dev/urandom: Web Crypto's getRandomValues, used where there is no
 * such file, loads its modules on first use (~2.6 ms of a no-op build, profiled). Node builtins
 * only: the fast path imports it.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

/** fills `bytes` with random bytes and returns them, as Web Crypto's getRandomValues and node:crypto's randomFillSync do */
export type RandomFill = (bytes: Uint8Array) => Uint8Array;

const webCryptoFill: RandomFill = (bytes) => globalThis.crypto.getRandomValues(bytes);

/** bytes read from `device` (the kernel's random source), or Web Crypto's where it cannot be read */
export function randomFillFrom(device: string): RandomFill {
  return (bytes) => {
    let fd: number | undefined;
    try {
      fd = openSync(device, 'r');
      for (let done = 0; done < bytes.length; ) {
        const n = readSync(fd, bytes, done, bytes.length - done, null);
        if (n <= 0) return webCryptoFill(bytes);
        done += n;
      }
      return bytes;
    } catch {
      return webCryptoFill(bytes);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
}

const urandomFill = randomFillFrom('/dev/urandom');

/** `fill`: the random bytes' source (tests give their own) */
export function runId(now: number = Date.now(), fill: RandomFill = urandomFill): string {
  let time = '';
  for (let i = 0, t = now; i < TIME_CHARS; i++, t = Math.floor(t / 32)) time = ENCODING[t % 32]! + time;
  // 256 is a multiple of 32: the low five bits of a random byte are uniform
  const bytes = fill(new Uint8Array(RANDOM_CHARS));
  let random = '';
  for (const b of bytes) random += ENCODING[b & 31]!;
  return time + random;
}
