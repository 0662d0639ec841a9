/** The `watch:` section of uet.config.yaml, read into typed settings (the schema checked its shape). */
import type { ConfigSpec } from '../spec/model.js';
import { parseDuration } from '../spec/durations.js';

export type OnChange = 'queue' | 'restart';

export interface WatchSettings {
  /** quiet time after the last change before a run starts */
  readonly debounceMs: number;
  /** what a change during a run does: finish the run, then one more (queue), or stop what it affects and start again (restart) */
  readonly onChange: OnChange;
  /** globs whose changes never trigger anything */
  readonly ignore: readonly string[];
}

export const DEFAULT_DEBOUNCE_MS = 50;

export function watchSettings(config: ConfigSpec): WatchSettings {
  const w = config.watch ?? {};
  const debounce = typeof w['debounce'] === 'string' || typeof w['debounce'] === 'number' ? parseDuration(w['debounce']) : undefined;
  const ignore = w['ignore'];
  return {
    debounceMs: debounce ?? DEFAULT_DEBOUNCE_MS,
    onChange: w['on_change'] === 'restart' ? 'restart' : 'queue',
    ignore: typeof ignore === 'string' ? [ignore] : Array.isArray(ignore) ? ignore.filter((g): g is string => typeof g === 'string') : [],
  };
}
