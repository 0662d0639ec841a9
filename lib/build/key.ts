/**
 * A task's cache key, and why two keys differ. Pure functions over plain data: the I/O
 * that gathers the parts (hashing files, reading env) happens in the runner.
 *
 * The parts are kept (without env values) so `uet explain` can say what changed since the
 * last success: input file, env var, command, upstream output.
 */
import { CACHE_FORMAT_VERSION } from '../cache/types.js';
import { KeyBuilder, sha256 } from '../hash/digest.js';

export interface KeyParts {
  readonly formatVersion: number;
  readonly platform: string;
  readonly arch: string;
  readonly command: string;
  readonly toolVersion?: string;
  readonly shell: string;
  readonly cwd: string;
  /** name → sha256 of the value ('' hashed for unset). Values are never stored. */
  readonly env: Readonly<Record<string, string>>;
  readonly outputs: readonly string[] | null;
  readonly clean: string;
  /** root-relative path → content hash; sorted by path */
  readonly inputs: ReadonlyArray<readonly [string, string]>;
  readonly patches: ReadonlyArray<readonly [string, string]>;
  /** upstream task id → digest of its output contents; sorted by id */
  readonly upstream: ReadonlyArray<readonly [string, string]>;
}

export { sha256 };

export function baseParts(): Pick<KeyParts, 'formatVersion' | 'platform' | 'arch'> {
  return { formatVersion: CACHE_FORMAT_VERSION, platform: process.platform, arch: process.arch };
}

/** Labelled, length-prefixed parts (KeyBuilder): no two different part lists hash alike. */
export function computeKey(parts: KeyParts): string {
  const h = new KeyBuilder();
  const put = (label: string, value: string): void => void h.add(label, value);
  put('format', String(parts.formatVersion));
  put('platform', parts.platform);
  put('arch', parts.arch);
  put('command', parts.command);
  put('tool-version', parts.toolVersion ?? '');
  put('shell', parts.shell);
  put('cwd', parts.cwd);
  for (const name of Object.keys(parts.env).sort()) put(`env:${name}`, parts.env[name]!);
  put('outputs', parts.outputs === null ? '<none>' : parts.outputs.join('\0'));
  put('clean', parts.clean);
  for (const [p, hash] of parts.inputs) put(`input:${p}`, hash);
  for (const [p, hash] of parts.patches) put(`patch:${p}`, hash);
  for (const [id, digest] of parts.upstream) put(`upstream:${id}`, digest);
  return h.digest();
}

/** Digest of a set of output files (path + content hash + mode), the thing downstream keys see. */
export function outputsDigest(outputs: ReadonlyArray<{ readonly path: string; readonly hash: string; readonly mode: number }>): string {
  return sha256(outputs.map((o) => `${o.path}\0${o.hash}\0${o.mode.toString(8)}\n`).join(''));
}

export type KeyChange =
  | { readonly what: 'command'; readonly detail: string }
  | { readonly what: 'tool-version' }
  | { readonly what: 'shell' | 'cwd' | 'outputs' | 'clean' | 'platform' | 'format' }
  | { readonly what: 'env'; readonly name: string }
  | { readonly what: 'input-added' | 'input-removed' | 'input-changed'; readonly path: string }
  | { readonly what: 'patch-added' | 'patch-removed' | 'patch-changed'; readonly path: string }
  | { readonly what: 'upstream-added' | 'upstream-removed' | 'upstream-changed'; readonly id: string };

/** What differs between the parts of the last success and the current ones, in a stable order. */
export function diffKeyParts(before: KeyParts, now: KeyParts): KeyChange[] {
  const changes: KeyChange[] = [];
  if (before.formatVersion !== now.formatVersion) changes.push({ what: 'format' });
  if (before.platform !== now.platform || before.arch !== now.arch) changes.push({ what: 'platform' });
  if (before.command !== now.command) changes.push({ what: 'command', detail: `'${before.command}' -> '${now.command}'` });
  if ((before.toolVersion ?? '') !== (now.toolVersion ?? '')) changes.push({ what: 'tool-version' });
  if (before.shell !== now.shell) changes.push({ what: 'shell' });
  if (before.cwd !== now.cwd) changes.push({ what: 'cwd' });
  if (JSON.stringify(before.outputs) !== JSON.stringify(now.outputs)) changes.push({ what: 'outputs' });
  if (before.clean !== now.clean) changes.push({ what: 'clean' });
  const names = new Set([...Object.keys(before.env), ...Object.keys(now.env)]);
  for (const name of [...names].sort()) if (before.env[name] !== now.env[name]) changes.push({ what: 'env', name });
  diffPairs(before.inputs, now.inputs, (kind, path) => changes.push({ what: `input-${kind}`, path }));
  diffPairs(before.patches, now.patches, (kind, path) => changes.push({ what: `patch-${kind}`, path }));
  diffPairs(before.upstream, now.upstream, (kind, id) => changes.push({ what: `upstream-${kind}`, id }));
  return changes;
}

function diffPairs(
  before: ReadonlyArray<readonly [string, string]>,
  now: ReadonlyArray<readonly [string, string]>,
  report: (kind: 'added' | 'removed' | 'changed', name: string) => void,
): void {
  const old = new Map(before);
  const cur = new Map(now);
  for (const [name, hash] of now) {
    const was = old.get(name);
    if (was === undefined) report('added', name);
    else if (was !== hash) report('changed', name);
  }
  for (const [name] of before) if (!cur.has(name)) report('removed', name);
}

export function describeChange(c: KeyChange): string {
  switch (c.what) {
    case 'command':
      return `command changed: ${c.detail}`;
    case 'tool-version':
      return 'tool version output changed';
    case 'shell':
    case 'cwd':
    case 'outputs':
    case 'clean':
    case 'platform':
    case 'format':
      return `${c.what} changed`;
    case 'env':
      return `env ${c.name} changed`;
    case 'input-added':
      return `input ${c.path} added`;
    case 'input-removed':
      return `input ${c.path} deleted`;
    case 'input-changed':
      return `input ${c.path} changed`;
    case 'patch-added':
      return `patch ${c.path} added`;
    case 'patch-removed':
      return `patch ${c.path} removed`;
    case 'patch-changed':
      return `patch ${c.path} changed`;
    case 'upstream-added':
      return `now depends on ${c.id}`;
    case 'upstream-removed':
      return `no longer depends on ${c.id}`;
    case 'upstream-changed':
      return `output of ${c.id} changed`;
  }
}
