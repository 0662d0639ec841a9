/**
 * Which files make up a project's spec: the config, the phase files its globs match, each
 * phase's workstream folder, the template files. Found without parsing any of them, so that a
 * build can tell whether its compiled-graph cache still holds without loading the spec's
 * parser and normaliser (lib/spec/load.ts), which only a changed spec needs.
 */
import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { glob } from 'tinyglobby';
import { byteCompare } from '../util/byte-compare.js';
import type { ConfigSpec } from './model.js';
import { CONFIG_FILE } from './project-root.js';

export const YAML_EXT = /\.ya?ml$/;

export interface Discovered {
  readonly phases: ReadonlyArray<{ readonly file: string; readonly stem: string; readonly wsFiles: readonly string[] }>;
  readonly templates: readonly string[];
}

async function expandGlobs(root: string, patterns: readonly string[]): Promise<string[]> {
  if (patterns.length === 0) return [];
  const files = await glob([...patterns], { cwd: root, onlyFiles: true, expandDirectories: false, dot: false });
  return [...new Set(files.map((f) => f.replace(/\\/g, '/')))].sort(byteCompare);
}

/** phase files, each with its workstream files (phases/<stem>/*.yaml), and template files */
export async function discover(root: string, config: Pick<ConfigSpec, 'phases' | 'templates'>): Promise<Discovered> {
  const [phaseMatches, templates] = await Promise.all([expandGlobs(root, config.phases), expandGlobs(root, config.templates)]);
  const phaseFiles = phaseMatches.filter((f) => YAML_EXT.test(f));
  // a glob such as phases/**/*.yaml also matches files in workstream folders: not phases
  const wsDirs = new Set(phaseFiles.map((f) => f.replace(YAML_EXT, '')));
  const inWsDir = (f: string): boolean => {
    for (let d = posix.dirname(f); d !== '.' && d !== '/' && d !== ''; d = posix.dirname(d)) if (wsDirs.has(d)) return true;
    return false;
  };
  const phases = await Promise.all(
    phaseFiles
      .filter((f) => !inWsDir(f))
      .map(async (file) => {
        const dir = file.replace(YAML_EXT, '');
        let wsFiles: string[] = [];
        try {
          const entries = await readdir(join(root, dir), { withFileTypes: true });
          wsFiles = entries
            .filter((e) => (e.isFile() || e.isSymbolicLink()) && YAML_EXT.test(e.name) && !e.name.startsWith('.'))
            .map((e) => `${dir}/${e.name}`)
            .sort(byteCompare);
        } catch {
          /* no workstream folder */
        }
        return { file, stem: posix.basename(dir), wsFiles };
      }),
  );
  return { phases, templates };
}

/**
 * The root-relative spec files a config points at (the config itself, phase files,
 * phases/<phase>/*.yaml workstream files, template files), byte-order sorted. Decides whether
 * a cached compiled graph is still valid without parsing YAML.
 */
export async function listSpecFiles(root: string, config: Pick<ConfigSpec, 'phases' | 'templates'>): Promise<string[]> {
  return specFilesOf(await discover(root, config));
}

export function specFilesOf(d: Discovered): string[] {
  const all = [CONFIG_FILE, ...d.templates];
  for (const p of d.phases) all.push(p.file, ...p.wsFiles);
  return [...new Set(all)].sort(byteCompare);
}
