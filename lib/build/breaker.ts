/**
 * A circuit breaker per tool, so a broken tool is not hammered by every task and every build.
 *
 *            failure (count < threshold)
 *              ┌──────┐
 *              ▼      │        failure (count reaches threshold)
 *   ┌──────▶ CLOSED ──┴──────────────────────────────────────┐
 *   │          ▲  success: count = 0                         ▼
 *   │          │                                           OPEN ◀──────────┐
 *   │  success │                                             │             │
 *   │          │            cooldown passed, a task asks     │             │ failure
 *   │       HALF_OPEN ◀──────────────────────────────────────┘             │
 *   │          └───────────────────────────────────────────────────────────┘
 *
 * While OPEN every task of the tool fails fast (no process starts). After the cooldown one
 * task is let through as the probe (HALF_OPEN); others keep failing fast until it decides.
 * The transition table below is the only place state changes; the state is plain data so it
 * can persist in .uet/breakers.json across builds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

export type BreakerState = 'closed' | 'open' | 'half-open';
export type BreakerInput = 'success' | 'failure' | 'probe';

export interface BreakerRecord {
  readonly state: BreakerState;
  /** consecutive failures while closed */
  readonly failures: number;
  /** when it last opened, ms since epoch */
  readonly openedAt: number;
}

export interface BreakerConfig {
  readonly failureThreshold: number;
  /** milliseconds */
  readonly cooldown: number;
}

export const DEFAULT_BREAKER: BreakerConfig = { failureThreshold: 5, cooldown: 60_000 };

const INITIAL: BreakerRecord = { state: 'closed', failures: 0, openedAt: 0 };

/** The transition table. Returns the next record; an input that makes no sense in a state is a bug. */
export function transition(rec: BreakerRecord, input: BreakerInput, cfg: BreakerConfig, now: number): BreakerRecord {
  switch (rec.state) {
    case 'closed':
      if (input === 'success') return { ...rec, failures: 0 };
      if (input === 'failure') {
        const failures = rec.failures + 1;
        return failures >= cfg.failureThreshold ? { state: 'open', failures, openedAt: now } : { ...rec, failures };
      }
      throw new Error('bug: a closed breaker needs no probe');
    case 'open':
      if (input === 'probe') return { ...rec, state: 'half-open' };
      // A task started before the breaker opened may still report: it changes nothing.
      return rec;
    case 'half-open':
      if (input === 'success') return { state: 'closed', failures: 0, openedAt: 0 };
      if (input === 'failure') return { ...rec, state: 'open', openedAt: now };
      throw new Error('bug: a half-open breaker already has its probe');
  }
}

export type Admission =
  | { readonly kind: 'run' }
  | { readonly kind: 'probe' }
  | { readonly kind: 'reject'; readonly failures: number; readonly retryAt: number };

export interface BreakerChange {
  readonly tool: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
}

/** All tools' breakers, persisted in one small file. */
export class Breakers {
  private readonly records = new Map<string, BreakerRecord>();
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly config: BreakerConfig,
    private readonly onChange: (c: BreakerChange) => void,
  ) {}

  static load(uetDir: string, config: BreakerConfig, onChange: (c: BreakerChange) => void): Breakers {
    const b = new Breakers(path.join(uetDir, 'breakers.json'), config, onChange);
    try {
      const data = JSON.parse(fs.readFileSync(b.file, 'utf8')) as Record<string, BreakerRecord>;
      for (const [tool, rec] of Object.entries(data)) {
        if (rec && (rec.state === 'closed' || rec.state === 'open' || rec.state === 'half-open')) {
          // A probe interrupted by a crash never reported: treat its breaker as open again.
          b.records.set(tool, rec.state === 'half-open' ? { ...rec, state: 'open' } : rec);
        }
      }
    } catch {
      // no file yet, or unreadable: every breaker starts closed
    }
    return b;
  }

  /** May a task of this tool start its process now? A 'probe' admission moves the breaker to half-open. */
  admit(tool: string, now: number): Admission {
    const rec = this.records.get(tool) ?? INITIAL;
    switch (rec.state) {
      case 'closed':
        return { kind: 'run' };
      case 'half-open':
        return { kind: 'reject', failures: rec.failures, retryAt: now };
      case 'open':
        if (now - rec.openedAt < this.config.cooldown) return { kind: 'reject', failures: rec.failures, retryAt: rec.openedAt + this.config.cooldown };
        this.apply(tool, rec, 'probe', now);
        return { kind: 'probe' };
    }
  }

  record(tool: string, success: boolean, now: number): void {
    this.apply(tool, this.records.get(tool) ?? INITIAL, success ? 'success' : 'failure', now);
  }

  stateOf(tool: string): BreakerState {
    return (this.records.get(tool) ?? INITIAL).state;
  }

  async save(): Promise<void> {
    if (!this.dirty) return;
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, `${JSON.stringify(Object.fromEntries(this.records), null, 2)}\n`);
    this.dirty = false;
  }

  private apply(tool: string, rec: BreakerRecord, input: BreakerInput, now: number): void {
    const next = transition(rec, input, this.config, now);
    if (next === rec) return;
    this.records.set(tool, next);
    this.dirty = true;
    if (next.state !== rec.state) this.onChange({ tool, from: rec.state, to: next.state });
  }
}

/** The config's circuit_breaker block, with defaults. */
export function breakerConfig(raw: Readonly<Record<string, unknown>> | undefined, parseDuration: (v: string | number) => number | undefined): BreakerConfig {
  const threshold = raw?.['failure_threshold'];
  const cooldown = raw?.['cooldown'];
  return {
    failureThreshold: typeof threshold === 'number' ? threshold : DEFAULT_BREAKER.failureThreshold,
    cooldown: (typeof cooldown === 'string' || typeof cooldown === 'number' ? parseDuration(cooldown) : undefined) ?? DEFAULT_BREAKER.cooldown,
  };
}
