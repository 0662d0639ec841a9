/**
 * `uet serve`: a resident process that runs the project's builds. It holds the project lock,
 * keeps what a build loads (lib/cli/resident.ts) and listens on a local socket; `uet build` in
 * the project finds it through `.uet/serve.json` and hands it its command line
 * (lib/cli/serve-client.ts). Each build goes the way it would in a process of its own: the
 * no-op proof first, then the full command line, with the asking shell's folder, environment
 * and terminal, and its output sent back as it is printed.
 *
 *   starting ──lock, load, listen──▶ idle ◀──build done──▶ building (one at a time; others queue)
 *   idle / building ──Ctrl-C──▶ stopping (the running build drains: nothing new starts) ──▶ stopped
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { NoopProof } from '../build/noop-proof.js';
import { parseProof, uetBuildId } from '../build/noop-proof.js';
import { closeThreadLaunchers, threadLauncher } from '../exec/spawn.js';
import { launcherFromEnv } from '../exec/launcher.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { collectGarbage } from '../util/v8-flags.js';
import { ChangeJournal } from '../watch/change-journal.js';
import type { InterruptSource } from './build-command.js';
import type { Io } from './context.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, lockProject, locateRoot, specFailed } from './context.js';
import { releaseYoungGeneration } from './heap-tuning.js';
import { main } from './main.js';
import { tryNoopFastPath } from './noop-fast-path.js';
import { ResidentProject } from './resident.js';
import { SplitProofCheck } from './split-proof-check.js';
import { WatchedProofCheck } from './watched-proof-check.js';
import type { BuildRequest, ClientMessage, ServeInfo, ServerMessage } from './serve-protocol.js';
import { jsonLines, liveServer, serveInfoPath } from './serve-protocol.js';

/** exit code of a build that threw (a bug in uet), as bin/uet.js gives a stalled one */
const EXIT_INTERNAL = 70;
/** quiet time after a build before the heap is collected (a build asked right away goes first) */
const IDLE_COLLECT_MS = 20;

export interface ServeFlags {
  readonly dir?: string;
  /** false (--no-watch): every build stats all the proof's paths, as an unserved one does */
  readonly watch: boolean;
}

export async function serveCommand(io: Io, flags: ServeFlags, signals: InterruptSource): Promise<number> {
  const located = locateRoot(io, flags.dir);
  if (!located.ok) return specFailed(io, located.error);
  const root = located.value;
  const uetDir = path.join(root, '.uet');
  const other = liveServer(uetDir);
  if (other) {
    io.stderr.write(`error: uet serve (pid ${other.pid}) already serves ${root}: its builds are run there\n`);
    return EXIT_FAILED;
  }
  const lock = await lockProject(io, uetDir);
  if (!lock) return EXIT_FAILED;

  // a process that lives for hours keeps V8's own limits (lib/cli/heap-tuning.ts)
  releaseYoungGeneration();
  const resident = await ResidentProject.open(root);
  // loaded now rather than by the first build; a spec error is that build's to report
  await resident.load(resident.hasher, {});
  // so are the cache's modules and the fork server: the first builds of a fresh server took
  // 150-300 ms longer for them (bench, touch at 10,000 tasks)
  await import('../cache/open.js');
  await threadLauncher(launcherFromEnv(io.env)).warm?.();
  // what loading left behind is collected now, not during the first build
  collectGarbage();
  const socketPath = socketPathFor(uetDir);
  const split = new SplitProofCheck();
  const journal = flags.watch ? ChangeJournal.open(root, uetDir) : 'turned off (--no-watch)';
  const watched = typeof journal === 'string' ? undefined : new WatchedProofCheck(journal, split);
  if (watched) for (const proof of proofsIn(uetDir)) watched.watchFoldersOf(proof);
  const check = watched ?? split;
  let queue: Promise<void> = Promise.resolve();
  /** the build running now: its way to be interrupted */
  let running: { interrupt(): void } | undefined;
  let stopping = false;
  let idleCollection: NodeJS.Timeout | undefined;

  const server = net.createServer((socket) => {
    let request: BuildRequest | undefined;
    const interrupts = new Set<() => void>();
    const interrupt = (): void => {
      for (const h of [...interrupts]) h();
    };
    socket.on(
      'data',
      jsonLines<ClientMessage>((m) => {
        if (m.type === 'interrupt') return interrupt();
        if (request !== undefined) return;
        request = m;
        const req = m;
        queue = queue.then(() => runOne(req, socket, interrupts, interrupt));
      }),
    );
    socket.on('error', () => {});
    // the asking shell went away: nobody waits for the build any more, stop it (drain, then kill)
    socket.on('close', () => {
      interrupt();
      interrupt();
    });
  });

  const runOne = async (req: BuildRequest, socket: net.Socket, interrupts: Set<() => void>, interrupt: () => void): Promise<void> => {
    // a build still queued when the server stops is not answered: its client builds by itself
    if (socket.destroyed || stopping) return void socket.destroy();
    const t0 = Date.now();
    /** when the shell was given its exit code (the build may still be doing its bookkeeping) */
    let answeredAt: number | undefined;
    const send = (m: ServerMessage): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
    };
    const answer = (code: number): void => {
      if (answeredAt !== undefined) return;
      answeredAt = Date.now();
      io.stdout.write(`${new Date().toISOString()} uet ${req.argv.join(' ')} → exit ${code} (${answeredAt - t0} ms)\n`);
      send({ exit: code });
      socket.end();
    };
    // what a build prints after its shell was answered (a warning while pruning the cache) is
    // kept in the server's own log, as it is in the run's
    const print = (text: string, to: 'out' | 'err'): void => {
      if (answeredAt === undefined) send(to === 'out' ? { out: text } : { err: text });
      else io.stderr.write(`(uet ${req.argv.join(' ')}, after its answer) ${text}`);
    };
    const reqIo: Io = {
      stdout: { write: (text) => print(text, 'out'), isTTY: req.isTTY },
      stderr: { write: (text) => print(text, 'err') },
      cwd: req.cwd,
      env: req.env,
    };
    const reqSignals: InterruptSource = {
      onInterrupt(handler) {
        interrupts.add(handler);
        return () => interrupts.delete(handler);
      },
    };
    clearTimeout(idleCollection);
    running = { interrupt };
    let code: number;
    try {
      const fast = await tryNoopFastPath(req.argv, reqIo, { serving: true, check });
      const serving = { project: resident, answer, ...(watched ? { proofWritten: (bytes: Buffer) => watched.proofWritten(bytes) } : {}) };
      code = fast.kind === 'done' ? fast.code : await main(req.argv, reqIo, reqSignals, fast.hint, serving);
    } catch (e) {
      print(`uet serve: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`, 'err');
      code = EXIT_INTERNAL;
    } finally {
      running = undefined;
    }
    answer(code);
    // Collected once the build is answered: V8's own limits let a 10,000-task server grow to
    // ~165 MB over 8 touches, ~146 MB collected after each (its shell does not wait for it)
    idleCollection = setTimeout(collectGarbage, IDLE_COLLECT_MS);
    idleCollection.unref();
  };

  const listening = await listen(server, socketPath);
  if (!listening.ok) {
    io.stderr.write(`error: cannot listen on ${socketPath}: ${listening.error}\n`);
    watched?.close();
    await split.close();
    await resident.close();
    lock.release();
    return EXIT_FAILED;
  }
  // only this user may ask for builds (connecting needs write permission on the socket)
  fs.chmodSync(socketPath, 0o600);
  const info: ServeInfo = { pid: process.pid, socket: socketPath, startedAt: Date.now(), uet: uetBuildId() };
  await writeFileAtomic(serveInfoPath(uetDir), JSON.stringify(info));
  // the last line says it is ready (tests and scripts wait for it)
  io.stdout.write(typeof journal === 'string' ? `change events: ${journal}; each build stats every path its proof names\n` : 'change events: on; each build stats only the paths changed since the last\n');
  io.stdout.write(`serving the builds of ${root} (pid ${process.pid}); Ctrl-C to stop\n`);

  // the first Ctrl-C stops: the running build drains (starts nothing new), a second kills its tasks
  const stopListening = await new Promise<() => void>((resolve) => {
    const stop = signals.onInterrupt(() => {
      if (!stopping) {
        stopping = true;
        io.stderr.write(running ? 'stopping: the running build starts nothing new (Ctrl-C again to kill its tasks)\n' : 'stopping\n');
        resolve(stop);
      }
      running?.interrupt();
    });
  });
  server.close();
  await queue;
  stopListening();
  fs.rmSync(serveInfoPath(uetDir), { force: true });
  fs.rmSync(socketPath, { force: true });
  watched?.close();
  await split.close();
  await resident.close();
  closeThreadLaunchers();
  lock.release();
  io.stderr.write('stopped serving\n');
  return EXIT_INTERRUPTED;
}

/**
 * A socket in .uet when its path fits a sockaddr_un (108 bytes on Linux, 104 on macOS); else
 * one in the temporary folder, named by the project's .uet folder.
 */
function socketPathFor(uetDir: string): string {
  const inProject = path.join(uetDir, 'serve.sock');
  if (Buffer.byteLength(inProject) < 100) return inProject;
  return path.join(os.tmpdir(), `uet-serve-${createHash('sha256').update(uetDir).digest('hex').slice(0, 16)}.sock`);
}

/** Listens on a unix socket; one left by a server that died (we hold the lock: it is not live) is replaced. */
function listen(server: net.Server, socketPath: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const attempt = (): Promise<NodeJS.ErrnoException | undefined> =>
    new Promise((resolve) => {
      const onError = (e: NodeJS.ErrnoException): void => resolve(e);
      server.once('error', onError);
      server.listen(socketPath, () => {
        server.off('error', onError);
        resolve(undefined);
      });
    });
  return (async () => {
    let e = await attempt();
    if (e?.code === 'EADDRINUSE') {
      fs.rmSync(socketPath, { force: true });
      e = await attempt();
    }
    return e ? { ok: false, error: e.message } : { ok: true };
  })();
}

/** the no-op proofs in .uet/noop (one per target set built), those that parse */
function proofsIn(uetDir: string): NoopProof[] {
  const folder = path.join(uetDir, 'noop');
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return [];
  }
  const proofs: NoopProof[] = [];
  for (const name of names) {
    try {
      const proof = parseProof(fs.readFileSync(path.join(folder, name)));
      if (proof) proofs.push(proof);
    } catch {
      // gone or unreadable: its first check is a full one
    }
  }
  return proofs;
}
