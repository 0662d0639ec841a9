/**
 * The client half of `uet serve`: a `uet build` in a project whose lock is held by a running
 * `uet serve` hands its command line to that process and prints what it sends back, instead of
 * waiting for the lock (lib/cli/serve-protocol.ts). Node builtins only: it runs in the no-op fast
 * path, before the rest of uet is loaded.
 */
import { uetBuildId } from '../build/noop-proof.js';
import type { ClientMessage, ServerMessage } from './serve-protocol.js';
import { jsonLines, liveServer } from './serve-protocol.js';
import { loadBuiltin } from '../util/import-module.js';

export interface ServedIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): void; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): void };
}

/** Ctrl-C in the client's shell: forwarded to the server (which drains, then kills, as a build does). */
export interface ClientSignals {
  onInterrupt(handler: () => void): () => void;
}

/** How long connecting may take before the build goes on without the server. */
const CONNECT_TIMEOUT_MS = 1000;
const EXIT_INTERRUPTED = 130;

/**
 * The build's exit code, once the server ran it; undefined when no server took it (none is
 * running, or it stopped before it answered): the caller then builds as usual.
 */
export async function runServedBuild(argv: readonly string[], uetDir: string, io: ServedIo, signals: ClientSignals): Promise<number | undefined> {
  const info = liveServer(uetDir);
  if (!info) return undefined;
  if (info.uet !== uetBuildId()) {
    // after an upgrade (or a rebuild of uet), a server still running the old code must not build
    io.stderr.write(`uet serve (pid ${info.pid}) runs another build of uet than this command: this build waits until it stops (Ctrl-C where it runs, then start it again)\n`);
    return undefined;
  }
  // loaded only here: a build with no server to ask never pays for it
  const net = loadBuiltin<typeof import('node:net')>('node:net');
  return new Promise((resolve) => {
    let answered = false;
    let connected = false;
    let done = false;
    const socket = net.createConnection(info.socket);
    const timer = setTimeout(() => finish(undefined), CONNECT_TIMEOUT_MS);
    const send = (m: ClientMessage): void => void socket.write(`${JSON.stringify(m)}\n`);
    // Ctrl-C before the server has the request: nothing was built, nothing is left to stop
    const stopListening = signals.onInterrupt(() => (connected ? send({ type: 'interrupt' }) : finish(EXIT_INTERRUPTED)));
    const finish = (code: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopListening();
      socket.destroy();
      resolve(code);
    };
    socket.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      send({ type: 'build', argv: [...argv], cwd: io.cwd, env: { ...io.env }, isTTY: io.stdout.isTTY === true });
    });
    socket.on(
      'data',
      jsonLines<ServerMessage>((m) => {
        answered = true;
        if ('out' in m) io.stdout.write(m.out);
        else if ('err' in m) io.stderr.write(m.err);
        else if ('exit' in m) finish(m.exit);
      }),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      if (done) return;
      // gone before it said anything: build here instead; gone mid-build: that build is lost
      if (!answered) return finish(undefined);
      io.stderr.write(`error: uet serve (pid ${info.pid}) stopped before the build finished\n`);
      finish(1);
    });
  });
}
