/**
 * Redis for tests. `.ci/run` starts one redis-server for the whole suite and exports its URL
 * as UET_TEST_REDIS_URL; tests that need a server they can stop or kill start a private one.
 * Without the binary (a developer machine without redis) the tests that need it are skipped
 * by name, except under CI=true, where a missing server is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REDIS_BINARY_PRESENT = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
/** the reason tests needing Redis are skipped here, or undefined when they can run */
export const REDIS_SKIP_REASON: string | undefined =
  REDIS_BINARY_PRESENT || process.env['UET_TEST_REDIS_URL'] ? undefined : 'SKIPPED: no redis-server binary and no UET_TEST_REDIS_URL (apt-get install redis-server)';
/** CI must never skip them */
export const REDIS_REQUIRED = process.env['CI'] === 'true';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGKILL, and wait until it is gone */
  kill(): Promise<void>;
}

/** a redis-server of this test's own on a free loopback port, ready to answer */
export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uet-test-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** the suite's server (UET_TEST_REDIS_URL), else a private one; `stop` stops only a private one */
export async function sharedRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env['UET_TEST_REDIS_URL'];
  if (url) return { url, stop: async () => undefined };
  const own = await startRedis();
  return { url: own.url, stop: () => own.kill() };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.setTimeout(500, () => {
      c.destroy();
      resolve(false);
    });
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        c.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
    c.on('error', () => resolve(false));
  });
}

/** a TCP server on loopback that accepts connections and never answers (a hung Redis) */
export async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** a raw Redis command over RESP (for tests that tamper with what the shared cache holds) */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.on('connect', () => c.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    c.on('data', (d) => {
      got += d.toString('latin1');
      // enough for the replies the tests read: one line, or an array of bulk strings
      if (isCompleteReply(got)) {
        c.end();
        resolve(got);
      }
    });
    c.on('error', reject);
  });
}

function isCompleteReply(s: string): boolean {
  if (!s.includes('\r\n')) return false;
  if (s[0] !== '*' && s[0] !== '$') return true;
  if (s[0] === '$') {
    const n = Number(s.slice(1, s.indexOf('\r\n')));
    return n < 0 || s.length >= s.indexOf('\r\n') + 2 + n + 2;
  }
  const count = Number(s.slice(1, s.indexOf('\r\n')));
  return count <= 0 || (s.match(/\r\n/g)?.length ?? 0) >= 1 + 2 * count;
}
