/**
 * The file system side of `uet watch`: one chokidar watcher per root folder of the scope
 * (chokidar 5 watches folders; which files matter is decided here with picomatch, through
 * the scope), reporting root-relative paths that were added, changed or removed.
 */
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { FSWatcher } from 'chokidar';
import type { WatchFolder, WatchScope } from './scope.js';
import { importModule } from '../util/import-module.js';

export interface FileWatcher {
  /** resolves once every folder has been read and is being watched */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** `scope` is read at each event: a recompiled graph changes what matters without a new watcher. */
export function watchFolders(
  root: string,
  folders: readonly WatchFolder[],
  scope: () => WatchScope,
  /** `listed`: the file was added or removed (its folder's listing changed), not only modified */
  onChange: (rel: string, listed: boolean) => void,
  onError: (message: string) => void,
): FileWatcher {
  const relOf = (abs: string): string => path.relative(root, abs).split(path.sep).join('/');
  const ignored = (abs: string, stats?: Stats): boolean => {
    const rel = relOf(abs);
    if (rel === '' || rel.startsWith('..')) return false;
    if (scope().isIgnoredDir(rel)) return true;
    // without stats chokidar may be asking about a folder: keep it, filter its files later
    return stats?.isFile() === true && !scope().isWatched(rel);
  };
  const open = (Watcher: typeof FSWatcher): FSWatcher[] =>
    folders.map((f) => {
      const w = new Watcher({
        ignoreInitial: true,
        ignored,
        // an editor's save-by-rename is an unlink then an add: both are reported at once rather
        // than held back 100 ms to be merged into one change
        atomic: false,
        ...(f.depth === Infinity ? {} : { depth: f.depth }),
      });
      const report =
        (listed: boolean) =>
        (abs: string): void => {
          const rel = relOf(abs);
          if (scope().isWatched(rel)) onChange(rel, listed);
        };
      w.on('add', report(true)).on('change', report(false)).on('unlink', report(true));
      // (a folder removed is reported as an unlink of each watched file it held)
      w.on('error', (e) => onError(e instanceof Error ? e.message : String(e)));
      w.add(path.join(root, f.dir));
      return w;
    });
  const watchers = importModule<typeof import('chokidar')>('chokidar').then(
    ({ FSWatcher: Watcher }) => open(Watcher),
    (e: unknown) => {
      onError(`chokidar could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    },
  );
  const ready = watchers.then((ws) => Promise.all(ws.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve()))))).then(() => {});
  return {
    ready,
    async close() {
      await Promise.all((await watchers).map((w) => w.close()));
    },
  };
}
