/**
 * Moving blobs between two repositories of one family (copy, heal): blob ids are equal across the family
 * (same idKey), the encryption keys are not. A blob is read from its pack in coalesced ranges, opened and
 * verified with the source's keys (AEAD tag, zstd, keyed id), and its compressed payload re-sealed with the
 * target's key under the same AAD (design.md §7): no recompression.
 */
import { blobId, open, seal } from '../crypto/crypto.js';
import { decompress } from '../crypto/compress.js';
import { DamageError, FlashbackError, errorMessage } from '../errors/errors.js';
import type { PackEntry } from '../pack/format.js';
import { blobAad } from './blob-aad.js';
import type { Repository } from './repository.js';

/** gaps up to this size between wanted blobs are read through rather than split into two reads */
export const COALESCE_GAP = 256 * 1024;
/** a range holds at most this many bytes (unless a single blob is larger) */
export const MAX_RANGE = 8 * 1024 * 1024;

export type BlobRef = Pick<PackEntry, 'id' | 'type' | 'compression' | 'offset' | 'length' | 'rawLength'>;

export interface SealedBlob {
  id: Buffer;
  type: 0 | 1;
  compression: 0 | 1;
  rawLength: number;
  /** sealed with the target's key */
  sealed: Buffer;
}

/** Sorts a pack's wanted blobs by offset and groups them into ranges to read at once. */
export function coalesce(blobs: BlobRef[], gap = COALESCE_GAP, max = MAX_RANGE): BlobRef[][] {
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  const ranges: BlobRef[][] = [];
  let cur: BlobRef[] = [];
  let start = 0;
  let end = 0;
  for (const b of sorted) {
    if (cur.length && (b.offset - end > gap || b.offset + b.length - start > max)) {
      ranges.push(cur);
      cur = [];
    }
    if (!cur.length) start = b.offset;
    cur.push(b);
    end = Math.max(end, b.offset + b.length);
  }
  if (cur.length) ranges.push(cur);
  return ranges;
}

/** Opens a blob sealed by `from`, verifies it, and seals its stored payload for `to`. Throws DamageError. */
export function resealBlob(from: Repository, to: Repository, sealed: Uint8Array, b: BlobRef, packId: string): SealedBlob {
  const idHex = b.id.toString('hex');
  const file = `${from.location}: data/${packId.slice(0, 2)}/${packId}`;
  const aad = blobAad(b.type, b.id);
  const stored = open(from.keys.encKey, aad, sealed);
  if (!stored) throw new DamageError(file, `blob ${idHex} fails authentication`, { blob: idHex });
  let plain: Buffer;
  try {
    plain = decompress(stored, b.compression);
  } catch (cause) {
    throw new DamageError(file, `blob ${idHex} cannot be decompressed`, { blob: idHex, cause });
  }
  if (plain.length !== b.rawLength || !blobId(from.idKey, plain).equals(b.id)) {
    throw new DamageError(file, `blob ${idHex} does not match its id`, { blob: idHex });
  }
  return { id: b.id, type: b.type, compression: b.compression, rawLength: b.rawLength, sealed: seal(to.keys.encKey, aad, stored) };
}

export interface TransferCallbacks {
  /** a verified, re-sealed blob (awaited: back-pressure) */
  onBlob(blob: SealedBlob, storedBytes: number): Promise<void>;
  /** a blob that could not be read or verified in the source */
  onDamage(id: string, err: Error): void;
  /** bytes read from the source so far */
  onRead?(bytes: number): void;
  signal?: AbortSignal;
}

/**
 * Reads the given blobs of each source pack (packs in id order, blobs in offset order, coalesced ranges: one
 * range in memory at a time) and hands each verified, re-sealed blob to `onBlob`.
 */
export async function transferBlobs(from: Repository, to: Repository, byPack: Map<string, BlobRef[]>, cb: TransferCallbacks): Promise<void> {
  for (const packId of [...byPack.keys()].sort()) {
    for (const range of coalesce(byPack.get(packId)!)) {
      cb.signal?.throwIfAborted();
      const start = range[0].offset;
      const end = Math.max(...range.map((b) => b.offset + b.length));
      let bytes: Buffer;
      try {
        bytes = await from.backend.load('data', packId, { offset: start, length: end - start });
      } catch (err) {
        if (!(err instanceof FlashbackError) || err.code !== 'ERR_NOT_FOUND') throw err;
        for (const b of range) cb.onDamage(b.id.toString('hex'), new Error(`reading pack ${packId}: ${errorMessage(err)}`));
        continue;
      }
      cb.onRead?.(bytes.length);
      for (const b of range) {
        const at = b.offset - start;
        if (at + b.length > bytes.length) {
          cb.onDamage(b.id.toString('hex'), new Error(`pack ${packId} is truncated`));
          continue;
        }
        let blob: SealedBlob;
        try {
          blob = resealBlob(from, to, bytes.subarray(at, at + b.length), b, packId);
        } catch (err) {
          if (!(err instanceof DamageError)) throw err;
          cb.onDamage(b.id.toString('hex'), err);
          continue;
        }
        await cb.onBlob(blob, blob.sealed.length);
      }
    }
  }
}
