/**
 * A folder's entries as a no-op proof's listing digest holds them (lib/build/noop-proof.ts,
 * SignedPaths.listings): each name marked `/` when it is a folder and `@` when it is a symlink.
 * A name that turns from a file into a folder changes what `**` walks into, though the names
 * stay the same. Imports nothing but node:fs: the fast path reads it.
 */
import { readdirSync } from 'node:fs';

export function markedName(name: string, kind: { readonly folder: boolean; readonly link: boolean }): string {
  return kind.link ? `${name}@` : kind.folder ? `${name}/` : name;
}

/** the folder's entry names, plain and marked; undefined when it cannot be listed */
export function listFolder(abs: string): { readonly names: string[]; readonly marked: string[] } | undefined {
  try {
    const entries = readdirSync(abs, { withFileTypes: true });
    return { names: entries.map((d) => d.name), marked: entries.map((d) => markedName(d.name, { folder: d.isDirectory(), link: d.isSymbolicLink() })) };
  } catch {
    return undefined;
  }
}

/** the folder's entry names, marked; undefined when it cannot be listed */
export function markedListing(abs: string): string[] | undefined {
  return listFolder(abs)?.marked;
}
