#!/usr/bin/env node
// The benchmark suite: uet against make and ninja (a layered graph of N tasks, bench/gen.mjs)
// and against turbo and wireit (a 50-package workspace, bench/gen-workspace.mjs).
//
//   npm run bench -- [--reps 5] [--only NAME[,NAME]] [--jobs 2] [--work DIR] [--out FILE] [--cold-10k] [--as-given-env]
//
// Every scenario runs each tool in turn, A B A B ..., --reps times (default 5), in this one
// invocation, and reports the median wall time, the ratio to the reference tool (ninja for the
// graph, turbo for the workspace) and the peak RSS (/usr/bin/time -f %M, the largest of the reps).
// Each tool works in its own copy of the generated tree; after every run the outputs of all
// tools are compared byte for byte, and a tool that built something different is reported as
// WRONG. The one-file touch checks which outputs each tool rewrote against the generator's
// manifest (what the touch must re-run): a tool that re-ran more or less is reported as WRONG.
//
// Scenarios (names for --only):
//   cold-2k     2,000 tasks, nothing built, -j2                          uet make ninja
//   cold-1k     1,000 tasks, as above (memory at 1k)                     uet make ninja
//   noop-1k     1,000 tasks, all built, nothing changed                  uet make ninja
//   noop-10k    10,000 tasks, as above                                   uet make ninja
//   touch-10k   10,000 tasks, one late source changed 2.1 s before the   uet make ninja
//               build (an edit, then a build: the file has left uet's racy window)
//   touch-10k-now  the same, the build at once after the write (a script's or a hook's build)
//   touch-10k-glob  10,000 tasks, a source folder per 100 tasks, each     uet make ninja
//               uet task naming its source by a glob (src/w097/9700.*): touch-10k's edit
//   rename-10k-glob  the same, the source saved by a rename (safe-write editors, vim, sed -i):
//               its folder changes too, which uet's tasks list
//   spec-10k    10,000 tasks, a comment added to the pipeline's file     uet make ninja
//               2.1 s before the build (a workstream file; the Makefile; build.ninja): none re-runs
//   ws-cold     50 packages (100 tasks), nothing built, no cache         uet turbo wireit
//   ws-noop     50 packages, all built                                   uet turbo wireit
//   ws-cache    50 packages, outputs deleted, the cache full             uet turbo wireit
//   (noop-10k, every touch, spec-10k, ws-noop and ws-cache also time "uet-serve": the same `uet build`, in a
//   tree of its own where a `uet serve` was started before the scenario; its peak RSS is the
//   client's plus the server's high-water mark)
//   cold-10k    10,000 tasks cold (only with --cold-10k: minutes)        uet make ninja
//
// Environment: every tool runs in this process's environment, less NODE_EXTRA_CA_CERTS (unless
// --as-given-env): with it set, every Node process reads and parses that file as it starts (on
// the machine of bench/RESULTS.md, whose environment sets it to the system's 144-certificate
// bundle, `node -e 0` took 76 ms against 21 ms), a cost of the machine's setup that falls on
// every uet, wireit and npm process and on no make, ninja or turbo one, and that no tool here
// needs (nothing it runs goes to the network). The header says what was removed, and Node's
// start both ways.
//
// Setup: ninja comes from Debian's ninja-build (installed with apt-get when missing); turbo and
// wireit are devDependencies of this package. Nothing here is part of `npm test`.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UET = path.join(REPO, 'bin', 'uet.js');
const BIN = path.join(REPO, 'node_modules', '.bin');
const TIME = '/usr/bin/time';

function parseArgs(argv) {
  const o = { reps: 5, only: null, jobs: 2, work: path.join(os.tmpdir(), 'uet-bench'), out: '', cold10k: false, asGivenEnv: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (argv[i + 1] === undefined) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--reps') o.reps = Number(v());
    else if (a === '--only') o.only = new Set(v().split(','));
    else if (a === '--jobs') o.jobs = Number(v());
    else if (a === '--work') o.work = path.resolve(v());
    else if (a === '--out') o.out = path.resolve(v());
    else if (a === '--cold-10k') o.cold10k = true;
    else if (a === '--as-given-env') o.asGivenEnv = true;
    else die(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.reps) || o.reps < 1) die('--reps must be a positive integer');
  return o;
}

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
/** see "Environment" above */
const REMOVED_ENV = opts.asGivenEnv ? [] : ['NODE_EXTRA_CA_CERTS'].filter((name) => process.env[name] !== undefined);
const givenEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !REMOVED_ENV.includes(name)));
const toolEnv = {
  ...givenEnv,
  PATH: `${BIN}:${process.env.PATH}`,
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  TURBO_NO_UPDATE_NOTIFIER: '1',
  // wireit turns its cache off when CI is set; the cache-hit scenario needs it
  WIREIT_CACHE: 'local',
  WIREIT_LOGGER: 'quiet',
};

// ---- setup ---------------------------------------------------------------------------------

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function setup() {
  if (!fs.existsSync(TIME)) die(`${TIME} is missing (Debian package 'time')`);
  if (!have('ninja')) {
    console.log('installing ninja-build (Debian)…');
    const r = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq ninja-build'], { stdio: 'inherit' });
    if (r.status !== 0 || !have('ninja')) die('could not install ninja-build; install it and run again');
  }
  if (!have('make')) die('make is missing');
  for (const t of ['turbo', 'wireit']) if (!fs.existsSync(path.join(BIN, t))) die(`${t} is missing: run npm install (it is a devDependency)`);
  if (!fs.existsSync(path.join(REPO, 'dist', 'lib', 'cli', 'main.js'))) die('dist/ is missing: run npm run build');
}

function version(cmd, args) {
  try {
    return execFileSync(cmd, args, { env: toolEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return '?';
  }
}

// ---- running one tool once -------------------------------------------------------------------

const TOOLS = {
  uet: { cmd: (dir) => ['node', [UET, 'build', '-j', String(opts.jobs), '--quiet']], state: ['.uet', 'cache'] },
  // the same command, answered by the `uet serve` running in its tree (see withServer)
  'uet-serve': { cmd: (dir) => ['node', [UET, 'build', '-j', String(opts.jobs), '--quiet']], state: ['.uet', 'cache'] },
  make: { cmd: () => ['make', ['-j', String(opts.jobs), '-s']], state: [] },
  ninja: { cmd: () => ['ninja', ['-j', String(opts.jobs)]], state: ['.ninja_log', '.ninja_deps'] },
  turbo: { cmd: () => [path.join(BIN, 'turbo'), ['run', 'build', 'test', `--concurrency=${opts.jobs}`, '--output-logs=none', '--log-prefix=none']], state: ['.turbo'] },
  wireit: { cmd: () => ['npm', ['run', 'all', '--silent']], state: [] },
};

/** One timed run: wall time from this process, peak RSS from /usr/bin/time. Throws on failure. */
function runTool(tool, dir) {
  const [cmd, args] = TOOLS[tool].cmd(dir);
  const rssFile = path.join(opts.work, `.rss-${process.pid}`);
  const env = tool === 'wireit' ? { ...toolEnv, WIREIT_PARALLEL: String(opts.jobs) } : toolEnv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], { cwd: dir, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${tool} failed in ${dir} (exit ${r.status}):\n${(r.stdout ?? '').slice(-2000)}${(r.stderr ?? '').slice(-2000)}`);
  }
  const rssKb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  return { ms, rssKb };
}

// ---- trees -------------------------------------------------------------------------------

function gen(dir, args) {
  execFileSync('node', [path.join(REPO, 'bench', 'gen.mjs'), ...args, '--out', dir], { stdio: 'ignore' });
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
}

function genWs(dir, tool) {
  execFileSync('node', [path.join(REPO, 'bench', 'gen-workspace.mjs'), '--tool', tool, '--out', dir], { stdio: 'ignore' });
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
}

function outputsOf(manifest) {
  if (manifest.generator === 'bench/gen-workspace.mjs') return manifest.outputs;
  return Array.from({ length: manifest.tasks }, (_, i) => `out/${i}.txt`);
}

// ---- removing state ------------------------------------------------------------------------
//
// Nothing is deleted while the suite runs: what a scenario removes is renamed into a trash
// folder, emptied once the last scenario has run. ext4 does not hand out an inode freed in the
// last 5 to 40 seconds, so every file created soon after a large deletion searches past those.
// Deleting uet's cache (a file and a folder per task) just before its timed cold run made the
// shells of that run spend 6.8 % of all CPU in that search (perf: recently_deleted and
// find_get_block_common, in the `sh` writing each output), 0.15 % with the cache renamed aside;
// ninja's runs, deleting only their outputs, showed none. That was the suite timing its own
// clean-up, not the tool.

const TRASH = path.join(opts.work, '.trash');
/** how long ext4 keeps a freed inode from being reused (its `recently_deleted`: up to 40 s) */
const RECENTLY_DELETED_MS = 40_000;
let trashed = 0;

/** Removes `abs` (a file or a folder; absent is fine) from the tree without freeing its inodes. */
function discard(abs) {
  try {
    fs.renameSync(abs, path.join(TRASH, String(trashed++)));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
}

/** A trash left by an interrupted run is emptied first, then the suite waits out ext4's window. */
function openTrash() {
  if (fs.existsSync(TRASH)) {
    console.log(`emptying ${TRASH}, left by an interrupted run, then waiting ${RECENTLY_DELETED_MS / 1000} s (see "removing state" in bench/run.mjs)`);
    fs.rmSync(TRASH, { recursive: true, force: true });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RECENTLY_DELETED_MS);
  }
  fs.mkdirSync(TRASH, { recursive: true });
}

function removeState(dir, tool) {
  for (const rel of TOOLS[tool].state) discard(path.join(dir, rel));
  if (tool === 'wireit') for (const p of fs.readdirSync(path.join(dir, 'packages'))) discard(path.join(dir, 'packages', p, '.wireit'));
}

function removeOutputs(dir, manifest) {
  for (const rel of outputsOf(manifest)) discard(path.join(dir, rel));
}

/** mtime (ns) of every output, to see which ones a run rewrote */
function mtimes(dir, manifest) {
  const m = new Map();
  for (const rel of outputsOf(manifest)) {
    try {
      m.set(rel, fs.statSync(path.join(dir, rel), { bigint: true }).mtimeNs);
    } catch {
      m.set(rel, -1n);
    }
  }
  return m;
}

/** the outputs whose mtime differs from `before` (from mtimes()): what a run rewrote */
function rewrittenSince(before, dir, manifest) {
  return new Set([...mtimes(dir, manifest)].filter(([rel, t]) => before.get(rel) !== t).map(([rel]) => rel));
}

function digestOutputs(dir, manifest) {
  const h = crypto.createHash('sha256');
  const perFile = new Map();
  for (const rel of outputsOf(manifest)) {
    let bytes;
    try {
      bytes = fs.readFileSync(path.join(dir, rel));
    } catch {
      bytes = Buffer.from('<missing>');
    }
    const d = crypto.createHash('sha256').update(bytes).digest('hex');
    perFile.set(rel, d);
    h.update(`${rel}\0${d}\n`);
  }
  return { all: h.digest('hex'), perFile };
}

// ---- scenarios -----------------------------------------------------------------------------

/**
 * Runs `prepare(tool, dir, manifest, round)` (untimed) then the tool (timed), tools in turn, `reps` rounds.
 * `check(tool)` (untimed) returns a problem or undefined.
 */
function scenario({ name, what, tools, ref, dirs, manifests, prepare, check }) {
  const results = Object.fromEntries(tools.map((t) => [t, { times: [], rss: 0, wrong: [] }]));
  for (let rep = 0; rep < opts.reps; rep++) {
    const round = rep % 2 === 0 ? tools : [...tools].reverse(); // A B, then B A: no tool always goes first
    for (const tool of round) {
      prepare(tool, dirs[tool], manifests[tool], rep);
      const { ms, rssKb } = runTool(tool, dirs[tool]);
      // the server collects its heap right after answering (lib/cli/serve-command.ts): let it
      // finish before the next tool is timed, so that tool does not share the CPU with it
      if (tool === 'uet-serve') sleepMs(SERVER_SETTLE_MS);
      const r = results[tool];
      r.times.push(ms);
      r.rss = Math.max(r.rss, rssKb);
      const problem = check?.(tool, dirs[tool], manifests[tool]);
      if (problem) r.wrong.push(problem);
    }
    // byte for byte: every tool's outputs against the first tool's
    const digests = tools.map((t) => digestOutputs(dirs[t], manifests[t]));
    for (let k = 1; k < tools.length; k++) {
      if (digests[k].all === digests[0].all) continue;
      const bad = [...digests[k].perFile].filter(([rel, d]) => digests[0].perFile.get(rel) !== d).map(([rel]) => rel);
      results[tools[k]].wrong.push(`outputs differ from ${tools[0]}'s: ${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ` and ${bad.length - 3} more` : ''}`);
    }
  }
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const refMed = med(results[ref].times);
  const rows = tools.map((t) => {
    const r = results[t];
    const m = med(r.times);
    return { scenario: name, what, tool: t, median: m, min: Math.min(...r.times), ratio: m / refMed, ref, rssMb: r.rss / 1024, wrong: [...new Set(r.wrong)] };
  });
  for (const row of rows) console.log(formatRow(row));
  return rows;
}

function formatRow(r) {
  const status = r.wrong.length > 0 ? `WRONG: ${r.wrong.join('; ')}` : 'ok';
  return `${r.scenario.padEnd(13)} ${r.tool.padEnd(9)} median ${fmtMs(r.median).padStart(9)}  ${r.ratio.toFixed(2).padStart(6)}× ${r.ref}  peak ${r.rssMb.toFixed(0).padStart(4)} MB  ${status}`;
}

function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** The graph shape: one tree per tool, built once before the timed runs unless `cold`. */
function graphTrees(n, touch, tools = GRAPH_TOOLS, layout = 'flat') {
  const dirs = {};
  const manifests = {};
  for (const tool of tools) {
    const dir = path.join(opts.work, `g${n}${layout === 'flat' ? '' : `-${layout}`}-${tool}`);
    fs.mkdirSync(dir, { recursive: true });
    // a tree left by an earlier invocation is reused when it is the same graph (saves a cold 10k build)
    let m;
    try {
      m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    } catch {
      m = undefined;
    }
    if (!m || m.tasks !== n || m.touch !== touch || (m.layout ?? 'flat') !== layout) {
      removeState(dir, tool);
      m = gen(dir, ['--tasks', String(n), '--touch', touch, '--layout', layout]);
    }
    dirs[tool] = dir;
    manifests[tool] = m;
  }
  return { dirs, manifests };
}

function wsTrees(tools = WS_TOOLS) {
  const dirs = {};
  const manifests = {};
  for (const tool of tools) {
    const dir = path.join(opts.work, `ws-${tool}`);
    discard(dir);
    manifests[tool] = genWs(dir, tool === 'uet-serve' ? 'uet' : tool);
    dirs[tool] = dir;
  }
  return { dirs, manifests };
}

function ensureBuilt(tool, dir) {
  runTool(tool, dir);
}

const GRAPH_TOOLS = ['uet', 'make', 'ninja'];
const SERVED_GRAPH_TOOLS = [...GRAPH_TOOLS, 'uet-serve'];
const WS_TOOLS = ['uet', 'turbo', 'wireit'];

const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** untimed pause after each uet-serve run */
const SERVER_SETTLE_MS = 300;

/** alive and not a zombie (the suite's loop, busy in spawnSync, reaps its children late) */
function running(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Runs `fn` while a `uet serve` runs in `dir`, then stops it; adds the server's peak RSS to the
 * uet-serve rows (the client's alone would hide the memory the resident process holds).
 */
function withServer(dir, fn) {
  const info = path.join(dir, '.uet', 'serve.json');
  const child = spawn('node', [UET, 'serve'], { cwd: dir, env: toolEnv, stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(info)) {
    if (!running(child.pid) || Date.now() > deadline) die(`uet serve did not start in ${dir}`);
    sleepMs(20);
  }
  // one untimed build first, as a server in use has served one: its first build compiles
  // (JIT) the code every later one runs, and makes the first basis of its change journal
  spawnSync('node', [UET, 'build', '--quiet'], { cwd: dir, env: toolEnv, stdio: 'ignore' });
  let rows;
  let hwmKb = 0;
  try {
    rows = fn();
  } finally {
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    child.kill('SIGINT');
    while (running(child.pid)) sleepMs(20);
  }
  const withHwm = rows.map((r) => (r.tool === 'uet-serve' ? { ...r, rssMb: r.rssMb + hwmKb / 1024 } : r));
  // the lines printed as the scenario ran had the client's peak alone
  for (const r of withHwm) if (r.tool === 'uet-serve') console.log(`${formatRow(r)}  (client + server high-water mark)`);
  return withHwm;
}

function cold(n) {
  const { dirs, manifests } = graphTrees(n, touchFor(n));
  return scenario({
    name: `cold-${n / 1000}k`,
    what: `${n} tasks, nothing built, -j${opts.jobs}`,
    tools: GRAPH_TOOLS,
    ref: 'ninja',
    dirs,
    manifests,
    prepare: (tool, dir, m) => {
      removeOutputs(dir, m);
      removeState(dir, tool);
    },
    check: (tool, dir, m) => {
      const missing = [...mtimes(dir, m)].filter(([, t]) => t < 0n).length;
      return missing > 0 ? `${missing} outputs missing` : undefined;
    },
  });
}

/** the graph trees of `tools` (uet's first), fully built (untimed) */
function builtGraph(n, tools, layout = 'flat') {
  const trees = graphTrees(n, touchFor(n, layout), tools, layout);
  // the touch scenario leaves its last edit in each tree: every tree starts from the same one
  const touched = path.join(trees.dirs.uet, trees.manifests.uet.touch);
  for (const t of tools.slice(1)) fs.copyFileSync(touched, path.join(trees.dirs[t], trees.manifests[t].touch));
  for (const t of tools) ensureBuilt(t, trees.dirs[t]);
  return { tools, ref: 'ninja', ...trees };
}

/** uet-serve is timed at 10,000 tasks only */
function noop(n) {
  if (n < 10000) return noopScenario(n, builtGraph(n, GRAPH_TOOLS));
  const built = builtGraph(n, SERVED_GRAPH_TOOLS);
  return withServer(built.dirs['uet-serve'], () => noopScenario(n, built));
}

function noopScenario(n, built) {
  const before = {};
  return scenario({
    ...built,
    name: `noop-${n / 1000}k`,
    what: `${n} tasks, nothing changed`,
    prepare: (tool, dir, m) => {
      before[tool] = mtimes(dir, m);
    },
    check: (tool, dir, m) => {
      const rewritten = rewrittenSince(before[tool], dir, m).size;
      return rewritten > 0 ? `re-ran ${rewritten} tasks on a no-op` : undefined;
    },
  });
}

/** a source of the third layer from the end: a touch re-runs a few dozen tasks, not the whole graph */
function touchFor(n, layout = 'flat') {
  const i = Math.max(0, n - 300);
  // gen.mjs's folders: one per 100 tasks (its --per-file), named w000, w001, ...
  return layout === 'flat' ? `src/${i}.txt` : `src/w${String(Math.floor(i / 100)).padStart(3, '0')}/${i}.txt`;
}

/**
 * How long before the build a touch's edit is made. A user saves a file and then starts a
 * build; uet trusts a file's stat only once it is older than its racy window (2 s,
 * lib/hash/file-hasher.ts), and records the new digest of one that is (a write to its stat
 * index), while a build started at once re-reads the file next time instead.
 */
const EDIT_AGE_MS = 2100;

/**
 * `layout: 'folders'`: sources in a folder per workstream, named by globs in uet's tasks
 * (gen.mjs --layout folders). `rename`: the edit writes a new file and renames it over the
 * source, as editors that save safely, vim and `sed -i` do: the source's folder changes too.
 */
function touch(n, { name, editAgeMs, layout = 'flat', rename = false }) {
  const built = builtGraph(n, SERVED_GRAPH_TOOLS, layout);
  const m0 = built.manifests.uet;
  const before = {};
  // the same new content for every tool in a round (their outputs are compared), new in every
  // round and every invocation: no tool can answer from a cache, every one must run the tasks
  const nonce = `${process.pid}-${Date.now()}`;
  return withServer(built.dirs['uet-serve'], () => scenario({
    ...built,
    name,
    what: `${n} tasks, ${m0.touch} ${rename ? 'saved by a rename' : 'changed'} ${editAgeMs > 0 ? `${editAgeMs / 1000} s before the build` : 'just before the build'}: ${m0.rerun.length} must re-run`,
    prepare: (tool, dir, m, round) => {
      before[tool] = mtimes(dir, m);
      const file = path.join(dir, m.touch);
      const text = `source ${m.touch} edit ${round} ${nonce}\n`;
      if (rename) {
        fs.writeFileSync(`${file}.new`, text);
        fs.renameSync(`${file}.new`, file);
      } else fs.writeFileSync(file, text);
      if (editAgeMs > 0) sleepMs(editAgeMs);
    },
    check: (tool, dir, m) => {
      const rewritten = rewrittenSince(before[tool], dir, m);
      const expected = new Set(m.rerun_outputs);
      const extra = [...rewritten].filter((r) => !expected.has(r));
      const missed = [...expected].filter((r) => !rewritten.has(r));
      if (extra.length === 0 && missed.length === 0) return undefined;
      return `re-ran ${rewritten.size} tasks, expected ${expected.size} (${extra.length} extra, ${missed.length} missed)`;
    },
  }));
}

/**
 * The file an edit of the pipeline changes, per tool: one workstream's file of uet's 100 (its
 * tasks in the middle layer), make's Makefile, ninja's build.ninja. A comment appended changes
 * no task: every tool must read its spec again and re-run nothing.
 */
const PIPELINE_FILE = { uet: 'phases/bench/w050.yaml', 'uet-serve': 'phases/bench/w050.yaml', make: 'Makefile', ninja: 'build.ninja' };

function specEdit(n) {
  const built = builtGraph(n, SERVED_GRAPH_TOOLS);
  const before = {};
  return withServer(built.dirs['uet-serve'], () => scenario({
    ...built,
    name: `spec-${n / 1000}k`,
    what: `${n} tasks, a comment added to the pipeline's file ${EDIT_AGE_MS / 1000} s before the build: none must re-run`,
    prepare: (tool, dir, m, round) => {
      before[tool] = mtimes(dir, m);
      // in place, as most editors save: the file keeps its inode and its folder its listing
      fs.appendFileSync(path.join(dir, PIPELINE_FILE[tool]), `# edit ${round}\n`);
      sleepMs(EDIT_AGE_MS);
    },
    check: (tool, dir, m) => {
      const rewritten = rewrittenSince(before[tool], dir, m).size;
      return rewritten > 0 ? `re-ran ${rewritten} tasks after a comment` : undefined;
    },
  }));
}

function wsScenarios() {
  const rows = [];
  const want = (s) => !opts.only || opts.only.has(s);
  if (want('ws-cold')) {
    const { dirs, manifests } = wsTrees();
    rows.push(
      ...scenario({
        name: 'ws-cold',
        what: `${manifests.uet.packages} packages (${manifests.uet.tasks} tasks), nothing built, no cache`,
        tools: WS_TOOLS,
        ref: 'turbo',
        dirs,
        manifests,
        prepare: (tool, dir, m) => {
          removeOutputs(dir, m);
          removeState(dir, tool);
        },
      }),
    );
  }
  if (want('ws-noop') || want('ws-cache')) {
    const tools = [...WS_TOOLS, 'uet-serve'];
    const { dirs, manifests } = wsTrees(tools);
    for (const t of tools) ensureBuilt(t, dirs[t]);
    const served = withServer(dirs['uet-serve'], () => {
      const rows = [];
      if (want('ws-noop')) {
        rows.push(
          ...scenario({
            name: 'ws-noop',
            what: `${manifests.uet.packages} packages, all built, nothing changed`,
            tools,
            ref: 'turbo',
            dirs,
            manifests,
            prepare: () => {},
          }),
        );
      }
      if (want('ws-cache')) {
        rows.push(
          ...scenario({
            name: 'ws-cache',
            what: `${manifests.uet.packages} packages, every output deleted, all in the cache`,
            tools,
            ref: 'turbo',
            dirs,
            manifests,
            prepare: (tool, dir, m) => removeOutputs(dir, m),
            check: (tool, dir, m) => {
              const missing = [...mtimes(dir, m)].filter(([, t]) => t < 0n).length;
              return missing > 0 ? `${missing} outputs not restored` : undefined;
            },
          }),
        );
      }
      return rows;
    });
    rows.push(...served);
  }
  return rows;
}

/** Node's start in `env`: the median wall time of 5 `node -e 0` */
function nodeStart(env) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync('node', ['-e', '0'], { env, stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return Math.round(times.sort((a, b) => a - b)[2]);
}

// ---- main ------------------------------------------------------------------------------------

setup();
fs.mkdirSync(opts.work, { recursive: true });
openTrash();
const facts = {
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  availableParallelism: os.availableParallelism(),
  memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  uet: version('node', [UET, '--version']),
  make: version('make', ['--version']),
  ninja: version('ninja', ['--version']),
  turbo: version(path.join(BIN, 'turbo'), ['--version']),
  wireit: JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', 'wireit', 'package.json'), 'utf8')).version,
  npm: version('npm', ['--version']),
  jobs: opts.jobs,
  reps: opts.reps,
  'removed from the environment': REMOVED_ENV.length > 0 ? REMOVED_ENV.join(', ') : 'nothing',
  'node -e 0 (median of 5)': `${nodeStart(toolEnv)} ms${REMOVED_ENV.length > 0 ? `; with the environment as given ${nodeStart(process.env)} ms` : ''}`,
};
console.log(Object.entries(facts).map(([k, v]) => `${k}: ${v}`).join('\n'));
console.log('');

const plan = [
  ['cold-1k', () => cold(1000)],
  ['cold-2k', () => cold(2000)],
  ['noop-1k', () => noop(1000)],
  ['noop-10k', () => noop(10000)],
  ['touch-10k', () => touch(10000, { name: 'touch-10k', editAgeMs: EDIT_AGE_MS })],
  ['touch-10k-now', () => touch(10000, { name: 'touch-10k-now', editAgeMs: 0 })],
  ['spec-10k', () => specEdit(10000)],
  ['touch-10k-glob', () => touch(10000, { name: 'touch-10k-glob', editAgeMs: EDIT_AGE_MS, layout: 'folders' })],
  ['rename-10k-glob', () => touch(10000, { name: 'rename-10k-glob', editAgeMs: EDIT_AGE_MS, layout: 'folders', rename: true })],
  ['cold-10k', () => cold(10000)],
];
const rows = [];
for (const [name, fn] of plan) {
  if (name === 'cold-10k' && !opts.cold10k && !opts.only?.has('cold-10k')) continue;
  if (opts.only && !opts.only.has(name)) continue;
  rows.push(...fn());
}
rows.push(...wsScenarios());

const table = [
  '| scenario | what | tool | median | min | ratio | peak RSS | result |',
  '|---|---|---|---:|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.scenario} | ${r.what} | ${r.tool} | ${fmtMs(r.median)} | ${fmtMs(r.min)} | ${r.ratio.toFixed(2)}× ${r.ref} | ${r.rssMb.toFixed(0)} MB | ${r.wrong.length > 0 ? `**WRONG**: ${r.wrong.join('; ')}` : 'ok'} |`),
].join('\n');
const report = `${Object.entries(facts).map(([k, v]) => `- ${k}: ${v}`).join('\n')}\n\n${table}\n`;
if (opts.out) fs.writeFileSync(opts.out, report);
fs.rmSync(TRASH, { recursive: true, force: true });
fs.writeFileSync(path.join(opts.work, 'last.json'), JSON.stringify({ facts, rows }, null, 1));
console.log(`\n${table}`);
process.exitCode = rows.some((r) => r.wrong.length > 0) ? 1 : 0;
