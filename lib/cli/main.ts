/**
 * The command line. Each command is a function of (io, arguments) returning an exit code;
 * this file only parses flags and wires process signals.
 */
import { Command, CommanderError, Option } from 'commander';
import { UET_VERSION } from '../version.js';
import type { ProofHint } from '../build/noop-proof.js';
import type { BuildFlags, InterruptSource } from './build-command.js';
import { buildCommand } from './build-command.js';
// Commands other than build are imported when run: `clean` and `explain` load the cache
// store (cacache, ~50 ms of modules) that a build with nothing to do never needs.
import type { Io } from './context.js';
import { EXIT_SPEC } from './context.js';
import type { Verbosity } from './reporter.js';
import type { ResidentServing } from './resident.js';

interface CommonOpts {
  dir?: string;
  jobs?: number;
  dryRun?: boolean;
  force?: boolean;
  keepGoing?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  cache?: boolean;
  replayLogs?: boolean;
  integrate?: boolean;
}

const processSignals: InterruptSource = {
  onInterrupt(handler) {
    let count = 0;
    const onSignal = (): void => {
      count++;
      handler();
      // The handler drains on the first signal and kills on the second; a third means the
      // user no longer waits for anything.
      if (count > 2) process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  },
};

function parseJobs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT_SPEC, 'uet.jobs', `-j takes a whole number >= 1, not '${v}'`);
  return n;
}

function verbosity(o: CommonOpts): Verbosity {
  return o.quiet ? 'quiet' : o.verbose ? 'verbose' : 'normal';
}

/**
 * `hint`: what the no-op fast path found changed (bin/uet.js); a build may decide less with it.
 * `resident`: a build is run by `uet serve`, on what it keeps loaded.
 */
export async function main(argv: readonly string[], io: Io = defaultIo(), signals: InterruptSource = processSignals, hint?: ProofHint, resident?: ResidentServing): Promise<number> {
  let code = 0;
  const program = new Command('uet')
    .description('Universal Execution Templates: build a phased pipeline of YAML tasks incrementally')
    .version(UET_VERSION, '--version', 'print the version')
    .option('-C, --dir <dir>', 'run as if started in <dir>')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const buildFlags = (cmd: Command): Command =>
    cmd
      .option('-j, --jobs <n>', 'run at most n tasks at once (default: config concurrency)', parseJobs)
      .option('--dry-run', 'say what would be fresh, restored or run, and why; change nothing')
      .option('--force', 'ignore freshness: run every task')
      .option('--keep-going', 'after a failure, build everything whose needs did not fail')
      .option('--json', 'print the run events as NDJSON on stdout')
      .option('--quiet', 'print only failures and the summary')
      .option('--verbose', 'also print fresh tasks and why each task ran')
      .option('--no-cache', 'neither restore from nor write to the cache')
      .option('--replay-logs', 'print the saved log of tasks restored from the cache')
      .option('--no-integrate', 'commit isolated (isolation: worktree) workstreams on their uet/<phase>/<ws> branches but do not merge them');

  const flagsOf = (o: CommonOpts): BuildFlags => {
    const dir = program.opts<{ dir?: string }>().dir;
    return {
      ...(dir !== undefined ? { dir } : {}),
      ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
      dryRun: o.dryRun === true,
      force: o.force === true,
      keepGoing: o.keepGoing === true,
      json: o.json === true,
      verbosity: verbosity(o),
      noCache: o.cache === false,
      replayLogs: o.replayLogs === true,
      noIntegrate: o.integrate === false,
    };
  };
  const dirOpt = (): { dir?: string } => {
    const dir = program.opts<{ dir?: string }>().dir;
    return dir !== undefined ? { dir } : {};
  };

  buildFlags(program.command('build').argument('[targets...]', 'phase, phase/ws, phase/ws/task, phase/GATE_X, or a glob of these').description('build targets and everything they need'))
    .addHelpText(
      'after',
      `
A build that succeeds leaves a no-op proof in .uet/noop/: the next build with the same targets
stats what it consulted and, if nothing changed, answers without examining a task (\`uet runs last\`
says "no-op"); if a few files changed, only the tasks they reach are examined.
--json, --verbose, --dry-run and --force always examine every task.
While \`uet serve\` runs in the project, the build is run by that process (see uet serve --help).

Environment:
  UET_NO_FAST_PATH=1   never answer from the no-op proof
  UET_REMOTE_CACHE     the shared cache's redis:// URL (wins over cache.remote.url; empty: none)
  UET_FORK_SERVER=0    start commands from node itself, not through the fork server
  UET_DIRECT_EXEC=0    start every command through its shell, even one that needs none`,
    )
    .action(async (targets: string[], o: CommonOpts) => {
      code = await buildCommand(io, targets, flagsOf(o), signals, hint, resident ? { ...resident, argv } : undefined);
    });

  program
    .command('watch')
    .argument('[targets...]', 'what to build and keep up to date (as for build)')
    .description('build, then re-run what changed files affect, until q or Ctrl-C')
    .option('-j, --jobs <n>', 'run at most n tasks at once (default: config concurrency)', parseJobs)
    .option('--json', 'stream the events of every run, and the watch events, as NDJSON on stdout')
    .option('--quiet', 'print only failures and the summaries')
    .option('--verbose', 'also print fresh tasks and why each task ran; never clear the screen')
    .option('--no-cache', 'neither restore from nor write to the cache')
    .option('--replay-logs', 'print the saved log of tasks restored from the cache')
    .action(async (targets: string[], o: CommonOpts) => {
      const { dryRun: _d, force: _f, keepGoing: _k, ...flags } = flagsOf(o);
      const { stdinKeys, watchCommand } = await import('./watch-command.js');
      code = await watchCommand(io, targets, flags, signals, stdinKeys);
    });

  program
    .command('serve')
    .description('stay loaded and run the builds asked for in this project, until Ctrl-C')
    .addHelpText(
      'after',
      `
While it runs, \`uet build\` in this project (from any shell, with any flags) is run by this process
instead of one of its own: the project, its stat index and freshness log stay loaded and the fork
server stays up, so a build starts deciding at once. Each build decides exactly as it would on its
own (a changed spec is loaded again) and prints in the shell that asked for it; Ctrl-C there
interrupts it. On Linux (local file systems) the server watches the folders its no-op proofs
name: a build's first check stats only the paths the kernel's change events named since the last
one (every path when events may have been lost); --no-watch stats them all, as an unserved build
does. The full build that follows, when something changed, stats every file it reads. Builds run one at a time. \`uet serve\` holds the
project lock: other commands that write (watch, clean) wait until it stops.`,
    )
    .option('--no-watch', 'stat every path a build\'s no-op proof names, instead of only those the kernel\'s change events named')
    .action(async (o: { watch: boolean }) => {
      const { serveCommand } = await import('./serve-command.js');
      code = await serveCommand(io, { ...dirOpt(), watch: o.watch }, signals);
    });

  program
    .command('validate')
    .description('load, check and compile the spec; print errors and warnings; build nothing')
    .option('--expand', 'print every workstream as YAML after templates are expanded (the summary goes to stderr)')
    .action(async (o: { expand?: boolean }) => {
      code = await (await import('./validate-command.js')).validateCommand(io, { ...dirOpt(), expand: o.expand === true });
    });

  program
    .command('graph')
    .argument('[targets...]', 'limit the graph to these targets and what they need')
    .addOption(new Option('--format <format>', 'output format').choices(['dot', 'mermaid', 'json']).default('dot'))
    .description('print the compiled graph')
    .action(async (targets: string[], o: { format: string }) => {
      code = await (await import('./graph-command.js')).graphCommand(io, targets, { ...dirOpt(), format: o.format });
    });

  program
    .command('explain')
    .argument('<task>', 'phase/ws/task or phase/GATE_X')
    .description('why the task would run now (what changed since its last success), and why it last ran')
    .action(async (task: string) => {
      code = await (await import('./explain-command.js')).explainCommand(io, task, dirOpt());
    });

  program
    .command('clean')
    .argument('[targets...]', 'what to clean (default: every task)')
    .option('--cache', 'also remove cache entries (all of them when no target is given)')
    .description('delete outputs and forget successes, so the next build runs again')
    .action(async (targets: string[], o: { cache?: boolean }) => {
      code = await (await import('./clean-command.js')).cleanCommand(io, targets, { ...dirOpt(), cache: o.cache === true });
    });

  program
    .command('runs')
    .argument('[id]', "a run id (or a unique prefix), or 'last'")
    .option('--json', 'print as NDJSON')
    .description('list past runs, or show one run’s events')
    .action(async (id: string | undefined, o: { json?: boolean }) => {
      code = await (await import('./runs-command.js')).runsCommand(io, id, { ...dirOpt(), json: o.json === true });
    });

  const cache = program.command('cache').description('the local cache: figures, pruning, integrity, clearing');
  cache
    .command('stats')
    .option('--json', 'print the figures as one JSON object')
    .description('hits and misses, local and shared, of the last run (and what it pruned)')
    .action(async (o: { json?: boolean }) => {
      code = await (await import('./cache-command.js')).cacheCommand(io, 'stats', { ...dirOpt(), json: o.json === true });
    });
  for (const [action, description] of [
    ['prune', 'remove least-recently-used entries past cache.max_size (default 5GB) and cache.max_age'],
    ['verify', 're-hash every blob; remove corrupt ones and the entries that need them; report'],
    ['clear', 'empty the local cache (the shared one is left alone)'],
  ] as const) {
    cache
      .command(action)
      .description(description)
      .action(async () => {
        code = await (await import('./cache-command.js')).cacheCommand(io, action, dirOpt());
      });
  }

  program
    .command('ledger')
    .argument('[action]', 'show ID | drop ID | requeue ID (default: list the patches)')
    .argument('[id]', 'a patch id (or a unique prefix of one, or of its hash)')
    .option('--state <state>', 'list only patches in this state (created, validated, queued, applied, verified, committed, apply_failed, rolled_back, quarantined, dropped)')
    .option('--workstream <ws>', 'list only patches of this workstream (phase/ws, or ws)')
    .option('--json', 'print as NDJSON')
    .description('the patch ledger: every patch, its state and history; drop and requeue are the human overrides')
    .action(async (action: string | undefined, id: string | undefined, o: { state?: string; workstream?: string; json?: boolean }) => {
      code = await (await import('./ledger-command.js')).ledgerCommand(io, action, id, {
        ...dirOpt(),
        ...(o.state !== undefined ? { state: o.state } : {}),
        ...(o.workstream !== undefined ? { workstream: o.workstream } : {}),
        json: o.json === true,
      });
    });

  program
    .command('import')
    .argument('<paths...>', 'workstream bundle files of the original system (ws-*.json; a bundle or a list of them)')
    .option('--phase <id>', 'the phase to import into (phases/<id>.yaml is created if missing)', 'imported')
    .option('--force', 'overwrite workstream files that exist')
    .description('convert workstream bundles into uet workstream YAML; what cannot be mapped is kept as comments')
    .action(async (paths: string[], o: { phase: string; force?: boolean }) => {
      code = await (await import('./import-command.js')).importCommand(io, paths, { ...dirOpt(), phase: o.phase, force: o.force === true });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every real usage error is exit 2.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'uet.jobs') io.stderr.write(`E_USAGE ${e.message}\n`);
      return EXIT_SPEC;
    }
    throw e;
  }
  return code;
}

function defaultIo(): Io {
  return {
    stdout: { write: (s) => void process.stdout.write(s), isTTY: process.stdout.isTTY === true },
    stderr: { write: (s) => void process.stderr.write(s) },
    cwd: process.cwd(),
    env: process.env,
  };
}
