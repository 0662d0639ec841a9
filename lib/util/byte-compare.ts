/** strings in UTF-16 code unit order: the same on every machine and in every locale */
export function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
