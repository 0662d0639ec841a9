/**
 * Which paths under a project may have changed since a moment, from the kernel's own change
 * events (inotify, through fs.watch on each folder), so that a resident process (`uet serve`)
 * need not stat 20,000 paths to learn that one file changed.
 *
 * The moments are syncs, numbered (epochs). sync() creates a cookie file in .uet and waits for
 * its event: inotify queues a process's events in the order they happened, so once the cookie's
 * event is read, the event of every change made before the sync has been read too (watchman's
 * cookie). Every event is tagged with the epoch it arrived in. A change after sync `e` therefore
 * carries a tag of at least `e`, and a path without one has not changed since sync `e`, provided
 * its folder's watch was in place before that sync and nothing was lost. Where that cannot be
 * shown, the journal says so and its caller stats:
 * - a folder watched only since sync `e` (or not at all: absent, out of watches) is not trusted
 *   for changes since `e`; nor is one whose watch saw an event without a name, or whose own
 *   entry (or an ancestor's) was renamed, deleted or replaced: it is watched again, anew;
 * - inotify drops events when its queue is full, and libuv does not pass that on. A queue can
 *   only fill with that many events unread, all of them then read: once half the queue's size
 *   arrive between two syncs, every path counts as changed;
 * - a cookie not seen within the timeout fails the sync, and counts as such an overflow.
 * Linux only, on local file systems (a remote one's changes made elsewhere raise no events).
 *
 *   unsynced ──sync (cookie seen)──▶ epoch 1 ──sync──▶ epoch 2 …   (events tag the current epoch)
 */
import fs from 'node:fs';
import path from 'node:path';

/** one folder's watch; its events name the entry that changed (null: the folder itself, unnamed) */
export interface FolderWatch {
  close(): void;
}
export type WatchFolder = (abs: string, onEvent: (name: string | null) => void, onLost: () => void) => FolderWatch | undefined;

/** file systems whose changes are all made (and so raised) on this machine: statfs f_type */
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
  0x794c7630, // overlayfs (changes through the overlay)
]);

const COOKIE_PREFIX = 'serve-cookie-';

interface Watched {
  readonly watch: FolderWatch | undefined;
  /** the epoch it was set up in: trusted for changes since any later sync */
  readonly since: number;
  /** the last epoch an unnamed event (or a lost watch) made its whole folder suspect */
  suspectAt: number;
}

export interface JournalOptions {
  readonly watchFolder?: WatchFolder;
  /** how long a sync waits for its cookie */
  readonly timeoutMs?: number;
  /** events between two syncs beyond which some may have been dropped */
  readonly overflowAt?: number;
}

export class ChangeJournal {
  /** syncs done; events arriving now are tagged with it */
  private epoch = 0;
  /** root-relative path → the last epoch an event named it */
  private readonly tags = new Map<string, number>();
  private readonly folders = new Map<string, Watched>();
  /** the syncs waiting for their cookie's event: true, it came; false, they stop waiting */
  private readonly cookies = new Map<string, (seen: boolean) => void>();
  private eventsThisEpoch = 0;
  /** syncs whose cookie is written but not yet seen */
  private syncing = 0;
  /** the last epoch in which events may have been dropped */
  private lostAt = -1;
  private nextCookie = 0;
  private readonly cookieWatch: FolderWatch | undefined;

  private constructor(
    private readonly root: string,
    private readonly uetDir: string,
    private readonly watchFolder: WatchFolder,
    private readonly timeoutMs: number,
    private readonly overflowAt: number,
  ) {
    this.cookieWatch = watchFolder(
      uetDir,
      (name) => {
        this.count();
        if (name !== null) this.cookies.get(name)?.(true);
      },
      () => (this.lostAt = this.epoch),
    );
  }

  /** A journal for the project at `root`, or why there can be none here. */
  static open(root: string, uetDir: string, opts: JournalOptions = {}): ChangeJournal | string {
    if (opts.watchFolder === undefined) {
      if (process.platform !== 'linux') return 'change events are used on Linux only';
      const type = localFileSystem(root);
      if (type !== undefined) return `the project is on a file system (type 0x${type.toString(16)}) whose changes may be made elsewhere`;
    }
    // cookies a server killed mid-sync left behind
    for (const name of listQuiet(uetDir)) if (name.startsWith(COOKIE_PREFIX)) fs.rmSync(path.join(uetDir, name), { force: true });
    const journal = new ChangeJournal(root, uetDir, opts.watchFolder ?? watchWithNode, opts.timeoutMs ?? 250, opts.overflowAt ?? defaultOverflowAt());
    if (journal.cookieWatch === undefined) return `cannot watch ${uetDir}`;
    return journal;
  }

  /**
   * Watches these root-relative folders ('' is the root) and all their ancestors, from now on;
   * one that could not be watched before (it did not exist) is tried again. Paths outside the
   * root are never watched, so never trusted.
   */
  track(folders: Iterable<string>): void {
    for (const folder of folders) {
      if (folder.startsWith('..') || path.isAbsolute(folder)) continue;
      for (let f: string | undefined = folder; f !== undefined; f = parentOf(f)) {
        const w = this.folders.get(f);
        if (w?.watch !== undefined) break;
        this.watch(f);
      }
    }
  }

  /**
   * Every change made before this call has been read: the new epoch, or undefined if that
   * could not be shown (then every path counts as changed since every earlier epoch).
   */
  sync(): Promise<number | undefined> {
    const name = `${COOKIE_PREFIX}${process.pid}-${this.nextCookie++}`;
    const file = path.join(this.uetDir, name);
    this.syncing++;
    return new Promise((resolve) => {
      const done = (synced: boolean): void => {
        clearTimeout(timer);
        this.cookies.delete(name);
        this.syncing--;
        fs.rm(file, { force: true }, () => {});
        if (!synced) {
          this.lostAt = this.epoch;
          return resolve(undefined);
        }
        if (this.eventsThisEpoch >= this.overflowAt) this.lostAt = this.epoch;
        this.epoch++;
        this.eventsThisEpoch = 0;
        resolve(this.epoch);
      };
      const timer = setTimeout(() => done(false), this.timeoutMs);
      this.cookies.set(name, done);
      try {
        fs.writeFileSync(file, '');
      } catch {
        done(false);
      }
    });
  }

  /** false: some change to this folder's entries since sync `since` may have gone unseen */
  trusted(folder: string, since: number): boolean {
    const w = this.folders.get(folder);
    return w !== undefined && w.watch !== undefined && w.since < since && w.suspectAt < since && this.lostAt < since;
  }

  /** whether events may have been dropped since sync `since` (then nothing is trusted) */
  lostSince(since: number): boolean {
    return this.lostAt >= since;
  }

  /** the root-relative paths named by an event since sync `since` */
  *changedSince(since: number): Iterable<string> {
    for (const [rel, at] of this.tags) if (at >= since) yield rel;
  }

  /** no caller asks about changes before sync `epoch` any more */
  forgetBefore(epoch: number): void {
    for (const [rel, at] of this.tags) if (at < epoch) this.tags.delete(rel);
  }

  close(): void {
    this.cookieWatch?.close();
    for (const w of this.folders.values()) w.watch?.close();
    this.folders.clear();
    for (const done of [...this.cookies.values()]) done(false);
  }

  private watch(folder: string): void {
    const watch = this.watchFolder(
      folder === '' ? this.root : path.join(this.root, folder),
      (name) => this.onEvent(folder, name),
      () => this.suspect(folder),
    );
    // set up while a sync waits for its cookie: after that sync's moment, so not trusted for it
    this.folders.set(folder, { watch, since: this.epoch + this.syncing, suspectAt: -1 });
  }

  private onEvent(folder: string, name: string | null): void {
    this.count();
    if (name === null) return this.suspect(folder);
    const rel = folder === '' ? name : `${folder}/${name}`;
    this.tags.set(rel, this.epoch);
    // the folder's own stat (its times, its listing) moves with its entries
    this.tags.set(folder, this.epoch);
    // a watched folder renamed, deleted or replaced: its watch (and those below it) follow the
    // old inode; they are set up again, on whatever is there now, and trusted from then on only
    if (this.folders.has(rel)) {
      const prefix = `${rel}/`;
      for (const [f, w] of [...this.folders]) {
        if (f !== rel && !f.startsWith(prefix)) continue;
        w.watch?.close();
        this.folders.delete(f);
        this.watch(f);
      }
    }
  }

  private suspect(folder: string): void {
    const w = this.folders.get(folder);
    if (w) w.suspectAt = this.epoch;
  }

  private count(): void {
    this.eventsThisEpoch++;
  }
}

function listQuiet(folder: string): string[] {
  try {
    return fs.readdirSync(folder);
  } catch {
    return [];
  }
}

function parentOf(folder: string): string | undefined {
  if (folder === '') return undefined;
  const slash = folder.lastIndexOf('/');
  return slash < 0 ? '' : folder.slice(0, slash);
}

/** undefined if `root` is on a local file system, else its statfs type */
function localFileSystem(root: string): number | undefined {
  try {
    const type = fs.statfsSync(root).type;
    return LOCAL_FILE_SYSTEMS.has(type) ? undefined : type;
  } catch {
    return -1;
  }
}

function defaultOverflowAt(): number {
  try {
    const max = Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim());
    return Number.isInteger(max) && max > 1 ? Math.floor(max / 2) : 8192;
  } catch {
    return 8192;
  }
}

/** fs.watch of one folder (not recursive); undefined if it cannot be watched (absent, out of watches) */
const watchWithNode: WatchFolder = (abs, onEvent, onLost) => {
  try {
    const watcher = fs.watch(abs, { persistent: false }, (_type, name) => onEvent(name === null ? null : String(name)));
    watcher.on('error', () => {
      onLost();
      watcher.close();
    });
    return { close: () => watcher.close() };
  } catch {
    return undefined;
  }
};
