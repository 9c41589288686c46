/** Additional authenticated data of a sealed blob: u8(type) ‖ id (design.md §7). */
export function blobAad(type: number, id: Uint8Array): Buffer {
  const aad = Buffer.allocUnsafe(33);
  aad[0] = type;
  aad.set(id, 1);
  return aad;
}
