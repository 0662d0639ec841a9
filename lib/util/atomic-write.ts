/**
 * Write a file atomically: a temporary file beside it, then rename(2) over it, so a reader
 * (or a crash) sees the old content or the new, never a mix. Replaces the write-file-atomic
 * package for uet's own state files: that package costs ~20 ms to load on every run and,
 * per call, a realpath, a stat and a chown that files uet owns do not need.
 */
import { promises as fsp, renameSync, unlinkSync, writeFileSync } from 'node:fs';

let counter = 0;

export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { readonly fsync?: boolean } = {}): Promise<void> {
  const tmp = `${file}.${process.pid}.${++counter}.tmp`;
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    // by default the data reaches the disk before the rename makes it visible
    if (opts.fsync !== false) await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fsp.unlink(tmp).catch(() => {});
    throw e;
  }
}

/**
 * The same on the calling thread, without fsync: for files that are cheap to lose (a power cut
 * costs at most a less detailed `explain`, or a full build instead of a no-op) and quick to
 * write (a megabyte at most), where four thread-pool round trips cost more than the four
 * syscalls themselves.
 */
export function writeFileAtomicSyncNoFsync(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.${++counter}.tmp`;
  try {
    writeFileSync(tmp, data, { flag: 'wx', mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
    throw e;
  }
}
