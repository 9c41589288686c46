/** Opening a stored blob (design.md §7): authenticate, decompress, check the keyed id. Pure; used by workers too. */
import { blobId, NONCE_BYTES, open, openInto, type BlobIdKey } from '../crypto/crypto.js';
import { decompress, decompressInto } from '../crypto/compress.js';
import { DamageError } from '../errors/errors.js';
import { blobAad } from './blob-aad.js';
import { scratchBuffer } from '../util/scratch.js';

export interface BlobMeta {
  type: number;
  compression: number;
  rawLength: number;
}

/** Reused output buffer for decodeBlob (one per thread); the result is valid until the next call with it. */
export interface DecodeScratch {
  buf?: Buffer;
  /** the compressed bytes, after authentication */
  stored?: Buffer;
  /**
   * decrypt in place, over the sealed bytes (which the caller owns and does not need again): no `stored`
   * buffer. A blob that fails authentication leaves zeros there.
   */
  inPlace?: boolean;
}

export function decodeBlob(encKey: Uint8Array, idKey: BlobIdKey, sealed: Uint8Array, meta: BlobMeta, id: Uint8Array, packId: string, scratch?: DecodeScratch): Buffer {
  const damaged = (what: string, cause?: unknown) => {
    const blob = Buffer.from(id).toString('hex');
    return new DamageError(`data/${packId.slice(0, 2)}/${packId}`, `blob ${blob} ${what}`, { blob, cause });
  };
  let stored: Buffer | undefined;
  if (scratch?.inPlace) {
    // the plaintext lands exactly over the ciphertext (AES-GCM in place), after the nonce
    stored = openInto(encKey, blobAad(meta.type, id), sealed, Buffer.from(sealed.buffer, sealed.byteOffset + NONCE_BYTES, Math.max(sealed.length - NONCE_BYTES, 0)));
  } else if (scratch) {
    scratch.stored = scratchBuffer(scratch.stored, sealed.length);
    stored = openInto(encKey, blobAad(meta.type, id), sealed, scratch.stored);
  } else stored = open(encKey, blobAad(meta.type, id), sealed);
  if (!stored) throw damaged('fails authentication');
  let plain: Buffer;
  try {
    if (scratch) {
      scratch.buf = scratchBuffer(scratch.buf, meta.rawLength);
      plain = decompressInto(stored, meta.compression, scratch.buf);
    } else plain = decompress(stored, meta.compression);
  } catch (cause) {
    throw damaged('cannot be decompressed', cause);
  }
  if (plain.length !== meta.rawLength || !blobId(idKey, plain).equals(id)) {
    throw damaged('does not match its id');
  }
  return plain;
}
