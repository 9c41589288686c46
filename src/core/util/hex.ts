import { FlashbackError } from '../errors/errors.js';

const ID_HEX = /^[0-9a-f]{64}$/;

/** Parses a 64-digit lowercase hex id (design.md §2) into 32 bytes. */
export function hexToId(hex: string): Buffer {
  if (typeof hex !== 'string' || !ID_HEX.test(hex)) {
    throw new FlashbackError('ERR_INVALID', `not an id (64 lowercase hex digits): ${JSON.stringify(String(hex).slice(0, 80))}`);
  }
  return Buffer.from(hex, 'hex');
}

/** Formats a 32-byte id as 64 lowercase hex digits. */
export function idToHex(id: Uint8Array): string {
  if (id.length !== 32) throw new RangeError(`an id has 32 bytes, got ${id.length}`);
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}
