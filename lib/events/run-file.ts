/**
 * Where a run's log lives. Its own module so that the no-op fast path, which writes a whole
 * three-event log at once, does not load the streaming writer (lib/events/run-log.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from './types.js';

export function runLogPath(uetDir: string, runId: string): string {
  return join(uetDir, 'runs', `${runId}.jsonl`);
}

/** The whole log of a short run, in one write; false if it could not be written. */
export function writeWholeRunLog(uetDir: string, runId: string, events: readonly RunEvent[]): boolean {
  try {
    mkdirSync(join(uetDir, 'runs'), { recursive: true });
    writeFileSync(runLogPath(uetDir, runId), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`, { flag: 'wx', mode: 0o644 });
    return true;
  } catch {
    return false;
  }
}
