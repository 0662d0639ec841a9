#!/usr/bin/env node
// A build with nothing to do is answered from the last build's no-op proof before the rest of
// uet is even loaded (lib/cli/noop-fast-path.ts); anything else runs the full command line.
// dist/bundle is dist/lib (tsc's output) linked into a few files by scripts/bundle.mjs.
//
// CommonJS (bin/package.json says so), as are the two bundles it loads: Node's loader for an ES
// module entry and its imports took ~5 ms of every no-op build (70 against 65 ms, 10,000 tasks).
'use strict';
const { tryNoopFastPath } = require('../dist/bundle/noop-fast-path.cjs');

// `uet runs | head`: a reader that went away is not an error; the command finishes quietly
// (a build goes on to record its work rather than die mid-task)
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}

const argv = process.argv.slice(2);
// while a running `uet serve` builds for this shell, Ctrl-C is passed on to it
const signals = {
  onInterrupt(handler) {
    let count = 0;
    const onSignal = () => {
      if (++count > 2) process.exit(130);
      handler();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  },
};
void (async () => {
  const fast = await tryNoopFastPath(argv, { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr }, { signals });
  if (fast.kind === 'done') process.exitCode = fast.code;
  else {
    // the rest of uet, with V8's code cache (lib/cli/load-cli.ts)
    const { loadCli } = require('../dist/bundle/load-cli.cjs');
    const { main } = loadCli();
    // Nothing left to wait for while the command is unfinished is a bug in uet (a promise that
    // never settles): say so, instead of node's bare exit code 13.
    const stalled = () => {
      process.stderr.write('uet: internal error: the command stopped with work unfinished and nothing left to wait for; this is a bug in uet, please report it (with `uet runs last`)\n');
      process.exit(70);
    };
    process.once('beforeExit', stalled);
    process.exitCode = await main(argv, undefined, undefined, fast.hint);
    process.off('beforeExit', stalled);
  }
})();
