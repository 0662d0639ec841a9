/**
 * When an append-only log (the last line about a key wins) is worth rewriting with only its live
 * lines: past a thousand lines, and only when most of them are dead, so compaction stays rare.
 */
const COMPACT_MIN_LINES = 1000;

export function worthCompacting(lines: number, live: number): boolean {
  return lines > COMPACT_MIN_LINES && lines > 2 * live;
}
