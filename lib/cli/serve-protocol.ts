/**
 * How `uet build` reaches a running `uet serve` (lib/cli/serve-command.ts): the server's
 * address, written to `.uet/serve.json` while it listens, and the messages, one JSON object a
 * line over a local socket. Node builtins only: the client half runs in the no-op fast path.
 *
 *   client → server   {"type":"build","argv":[...],"cwd":"...","env":{...},"isTTY":false}
 *                     {"type":"interrupt"}            (each Ctrl-C in the client's shell)
 *   server → client   {"out":"text"} | {"err":"text"}  (what the build prints, in order)
 *                     {"exit":0}                       (last)
 */
import fs from 'node:fs';
import path from 'node:path';
import { pidAlive } from '../util/pid-alive.js';

export interface ServeInfo {
  readonly pid: number;
  readonly socket: string;
  readonly startedAt: number;
  /** the uet it runs (uetBuildId): a client of another uet does not hand it builds */
  readonly uet: string;
}

export interface BuildRequest {
  readonly type: 'build';
  /** the whole command line after `uet`, as the client got it */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTTY: boolean;
}

export type ClientMessage = BuildRequest | { readonly type: 'interrupt' };
export type ServerMessage = { readonly out: string } | { readonly err: string } | { readonly exit: number };

export const serveInfoPath = (uetDir: string): string => path.join(uetDir, 'serve.json');

/**
 * The server named in .uet/serve.json, if it is the live holder of the project lock; undefined
 * for none, or for the file a server that died left behind (the lock is then taken over as from
 * any dead holder).
 */
export function liveServer(uetDir: string): ServeInfo | undefined {
  const info = readServeInfo(uetDir);
  return info !== undefined && lockHolderPid(uetDir) === info.pid && pidAlive(info.pid) ? info : undefined;
}

/**
 * The pid in the lock file (lib/events/lock.ts writes it, with more this does not need: that
 * module's node:os import would cost every no-op build ~1.4 ms). A pid reused since its server
 * died at worst costs a connection refused.
 */
function lockHolderPid(uetDir: string): number | undefined {
  try {
    const pid = (JSON.parse(fs.readFileSync(path.join(uetDir, 'lock'), 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readServeInfo(uetDir: string): ServeInfo | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(serveInfoPath(uetDir), 'utf8')) as Partial<ServeInfo>;
    return typeof v.pid === 'number' && typeof v.socket === 'string' && typeof v.startedAt === 'number' && typeof v.uet === 'string'
      ? { pid: v.pid, socket: v.socket, startedAt: v.startedAt, uet: v.uet }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a stream of chunks into lines, each parsed as JSON (a line that is not is skipped). */
export function jsonLines<T>(onMessage: (m: T) => void): (chunk: Buffer | string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        onMessage(JSON.parse(line) as T);
      } catch {
        /* not a message of ours */
      }
    }
  };
}
