/** What uet knows of one file's content. `hash` is the sha256 of the bytes, hex. */
export interface FileDigest {
  readonly hash: string;
  readonly size: number;
  /** permission bits (mode & 0o777): an executable bit is part of an output */
  readonly mode: number;
}

/**
 * Hashes project files, re-reading only what changed: a persistent stat index
 * (size, mtime, ctime, inode) says which files need hashing again. Paths are
 * root-relative with forward slashes.
 */
export interface FileHasher {
  /** null for a path that does not exist or is not a regular file */
  hashFile(relPath: string): Promise<FileDigest | null>;
  hashFiles(relPaths: readonly string[]): Promise<Map<string, FileDigest | null>>;
  /** forget what is known of a path (after uet itself wrote it) */
  forget(relPath: string): void;
  /** persist the stat index (atomically); cheap when nothing changed */
  flush(): Promise<void>;
}

/**
 * Expands globs against the file tree. Directory listings are read once per instance
 * and shared across calls, so expanding 10,000 tasks' globs walks the tree once.
 */
export interface Globber {
  /**
   * files (not folders) matching any of the globs, root-relative, sorted in byte order, no
   * duplicates; with `consult`, what the answer was read from is recorded (see consulted())
   */
  expand(globs: readonly string[], opts?: { consult?: boolean }): Promise<string[]>;
  /** drop every cached listing (the tree may have changed anywhere) */
  invalidate(): void;
  /** drop the cached listings that writing files matching these globs could change (after a task wrote its outputs) */
  invalidateUnder(globs: readonly string[]): void;
  /** what the `consult` expansions so far were read from */
  consulted(): GlobConsultation;
}

/** The part of a stat that says whether a path changed (the no-op proof compares it). */
export interface StatLike {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly mode: number;
}

export interface GlobConsultation {
  /**
   * each folder listed: its stat taken just before its (latest) listing (undefined: it did not
   * exist), when, the names it held, and those names marked as folders or links
   * (lib/util/marked-listing.ts)
   */
  readonly dirs: ReadonlyMap<string, { readonly stat: StatLike | undefined; readonly at: number; readonly names: readonly string[]; readonly marked: readonly string[] }>;
  /** paths looked up by stat instead of a listing: did they exist (latest answer) */
  readonly probed: ReadonlyMap<string, boolean>;
  /** folders listed twice with different stats, paths probed twice with different answers */
  readonly unstable: readonly string[];
}
