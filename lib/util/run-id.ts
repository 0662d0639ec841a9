/**
 * A run's id for the no-op fast path: a ULID (48 bits of time in ms, then 80 random bits, in
 * Crockford's base32) as the ulid package makes them. That package imports node:crypto, which
 * took ~4 ms of every no-op and every served build's client, neither of which hashes anything;
 * Web Crypto's getRandomValues loads in ~1 ms. Node builtins only: the fast path imports it.
 */
const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

/** fills `bytes` with random bytes and returns them, as Web Crypto's getRandomValues and node:crypto's randomFillSync do */
export type RandomFill = (bytes: Uint8Array) => Uint8Array;

const webCryptoFill: RandomFill = (bytes) => globalThis.crypto.getRandomValues(bytes);

/**
 * `fill`: where node:crypto is loaded already (a full build hashes), its randomFillSync takes
 * ~0.1 ms where loading Web Crypto takes ~0.8.
 */
export function runId(now: number = Date.now(), fill: RandomFill = webCryptoFill): string {
  let time = '';
  for (let i = 0, t = now; i < TIME_CHARS; i++, t = Math.floor(t / 32)) time = ENCODING[t % 32]! + time;
  // 256 is a multiple of 32: the low five bits of a random byte are uniform
  const bytes = fill(new Uint8Array(RANDOM_CHARS));
  let random = '';
  for (const b of bytes) random += ENCODING[b & 31]!;
  return time + random;
}
