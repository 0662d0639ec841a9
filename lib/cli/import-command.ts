/** `uet import PATH...`: workstream bundles of the original system -> a uet phase and its workstream files. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { bundlesOf, importBundles } from '../import/bundles.js';
import { ID_RE } from '../spec/normalise.js';
import type { Io } from './context.js';
import { EXIT_OK, EXIT_SPEC, locateRoot, specFailed } from './context.js';

export interface ImportFlags {
  readonly dir?: string;
  readonly phase: string;
  readonly force: boolean;
}

function usage(io: Io, message: string, hint: string): number {
  io.stderr.write(`E_USAGE ${message}\n  hint: ${hint}\n`);
  return EXIT_SPEC;
}

export async function importCommand(io: Io, paths: readonly string[], flags: ImportFlags): Promise<number> {
  const root = locateRoot(io, flags.dir);
  if (!root.ok) return specFailed(io, root.error);
  if (!ID_RE.test(flags.phase)) return usage(io, `'${flags.phase}' is not a phase id`, 'letters, digits, ., _ and -, starting with a letter or digit');
  if (paths.length === 0) return usage(io, 'uet import needs at least one bundle file', 'uet import ws-*.json [--phase ID]');
  const bundles = [];
  for (const p of paths) {
    const abs = path.resolve(io.cwd, p);
    let data: unknown;
    try {
      data = JSON.parse(await fs.readFile(abs, 'utf8'));
    } catch (e) {
      return usage(io, `${p}: ${e instanceof Error ? e.message : String(e)}`, 'uet import reads JSON workstream bundles (ws-*.json)');
    }
    const found = bundlesOf(data);
    if (found.length === 0) return usage(io, `${p}: no workstream bundle in it`, 'a bundle is a JSON object with an id (or a list of them)');
    bundles.push(...found);
  }
  const result = importBundles(bundles);
  if (result.errors.length > 0) return usage(io, result.errors.join('; '), 'every bundle needs a unique id');

  const phasesDir = path.join(root.value, 'phases');
  const wsDir = path.join(phasesDir, flags.phase);
  const targets = result.workstreams.map((w) => ({ rel: `phases/${flags.phase}/${w.id}.yaml`, abs: path.join(wsDir, `${w.id}.yaml`), w }));
  if (!flags.force) {
    for (const t of targets) {
      const exists = await fs.access(t.abs).then(
        () => true,
        () => false,
      );
      if (exists) return usage(io, `${t.rel} exists already`, 'pass --force to overwrite it, or --phase to import into another phase');
    }
  }
  await fs.mkdir(wsDir, { recursive: true });
  const phaseFile = path.join(phasesDir, `${flags.phase}.yaml`);
  const phaseExists = await fs.access(phaseFile).then(
    () => true,
    () => false,
  );
  if (!phaseExists) {
    await fs.writeFile(phaseFile, `# Imported by \`uet import\`: its workstreams are the files under phases/${flags.phase}/.\nid: ${flags.phase}\n`);
    io.stdout.write(`wrote phases/${flags.phase}.yaml\n`);
  }
  for (const t of targets) {
    await fs.writeFile(t.abs, t.w.text);
    io.stdout.write(`wrote ${t.rel}${t.w.notes.length > 0 ? ` (${t.w.notes.length} item${t.w.notes.length === 1 ? '' : 's'} not mapped: kept as comments)` : ''}\n`);
  }
  io.stdout.write(`${targets.length} workstream${targets.length === 1 ? '' : 's'} imported into phase '${flags.phase}'; check them with 'uet validate'\n`);
  return EXIT_OK;
}
