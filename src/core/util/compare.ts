/**
 * Orders strings by UTF-16 code unit, the same in every locale: ids, ISO times and names in listings and
 * plans. (String.prototype.localeCompare follows the user's locale and loads ICU's collation data, ≈ 3 MiB of
 * resident memory in every command that lists snapshots.)
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
