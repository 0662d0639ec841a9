/**
 * Per-task files under .uet/explain/ holding the key parts of the last success (env values
 * only as hashes) and .uet/logs/ holding the last run's log. Written only when a task runs
 * or is restored, so a no-op build touches none of them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomicSyncNoFsync } from '../util/atomic-write.js';
import type { KeyParts } from './key.js';
import type { ExplainStore } from './services.js';

/** A task id as a file name: readable, and no '/' so one folder holds them all. */
export function taskFileName(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9._-]/g, (c) => (c === '/' ? '__' : `%${c.charCodeAt(0).toString(16)}`));
}

export function createExplainStore(uetDir: string): ExplainStore {
  const explainDir = path.join(uetDir, 'explain');
  const logDir = path.join(uetDir, 'logs');
  let made = false;
  // Written synchronously: one small file per task that ran, where the thread-pool round
  // trips of the async calls cost more than the writes (see bench/RESULTS.md).
  const ensure = (): void => {
    if (made) return;
    mkdirSync(explainDir, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    made = true;
  };
  return {
    async get(taskId) {
      try {
        return JSON.parse(await fs.readFile(path.join(explainDir, `${taskFileName(taskId)}.json`), 'utf8')) as KeyParts;
      } catch {
        return undefined;
      }
    },
    async put(taskId, parts) {
      ensure();
      // No fsync: losing this file in a power cut only makes `explain` say less.
      writeFileAtomicSyncNoFsync(path.join(explainDir, `${taskFileName(taskId)}.json`), JSON.stringify(parts));
    },
    async putLog(taskId, log) {
      ensure();
      writeFileSync(path.join(logDir, `${taskFileName(taskId)}.log`), log);
    },
    logPath(taskId) {
      return path.join(logDir, `${taskFileName(taskId)}.log`);
    },
  };
}
