/**
 * Durations and sizes as users write them in uet YAML.
 *
 * Durations: a number is milliseconds; a string is one or more `<number><unit>` parts with
 * units ms, s, m, h, d (`250ms`, `60s`, `5m`, `1h30m`, `1.5s`), or a plain digit string (ms).
 *
 * Sizes: a number is bytes; a string is `<number>[unit]` with B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB, T/TB/TiB, case-insensitive, spaces allowed (`2GB`, `500 MB`, `1024`).
 * Every unit is binary: 1 KB = 1024 B, 1 GB = 1024^3 B (what users of cache sizes expect
 * from du/ls -h); KiB etc. are accepted as synonyms.
 *
 * The JSON Schemas use DURATION_PATTERN and SIZE_PATTERN's sources (keep them in step).
 */

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;
/** the schema's pattern for a duration string */
export const DURATION_PATTERN = '^\\s*(\\d+\\s*|(\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*)+)$';

const SIZE_UNIT: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?\s*$/i;
/** the schema's pattern for a size string */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgGtT]([iI]?[bB])?|[bB])?\\s*$';

/** milliseconds, or undefined when `v` is not a duration */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  if (/^\d+$/.test(s)) return Number(s);
  let total = 0;
  let pos = 0;
  DURATION_PART.lastIndex = 0;
  while (pos < s.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
    pos = DURATION_PART.lastIndex;
    while (pos < s.length && /\s/.test(s[pos]!)) pos++;
  }
  return Math.round(total);
}

/** bytes, or undefined when `v` is not a size */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = SIZE_RE.exec(v);
  if (!m) return undefined;
  const unit = (m[2] ?? m[3] ?? '').toLowerCase();
  return Math.round(Number(m[1]) * SIZE_UNIT[unit]!);
}
