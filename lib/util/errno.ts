/**
 * The `code` a failed system call's error carries ('ENOENT', 'EEXIST', ...), or undefined for
 * any other value thrown: one reading of it, where callers each had their own cast.
 */
export function errnoCode(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return typeof code === 'string' ? code : undefined;
}
