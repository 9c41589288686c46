/**
 * Pack files and index files (design.md §8, §9).
 * entry := u8(type) ‖ u8(compression) ‖ id[32] ‖ u32le(offset) ‖ u32le(length) ‖ u32le(rawLength)
 */
import { open, seal } from '../crypto/crypto.js';
import { compress, decompress } from '../crypto/compress.js';
import { FlashbackError } from '../errors/errors.js';

export const ENTRY_BYTES = 46;
export const PACK_HEADER_AAD = Buffer.from('flashback pack header v1');
export const INDEX_AAD = Buffer.from('flashback index v1');
export const FORMAT_VERSION = 1;

export interface PackEntry {
  type: 0 | 1;
  compression: 0 | 1;
  id: Buffer;
  offset: number;
  length: number;
  rawLength: number;
}

export function writeEntry(buf: Buffer, at: number, e: PackEntry): number {
  buf[at] = e.type;
  buf[at + 1] = e.compression;
  e.id.copy(buf, at + 2, 0, 32);
  buf.writeUInt32LE(e.offset, at + 34);
  buf.writeUInt32LE(e.length, at + 38);
  buf.writeUInt32LE(e.rawLength, at + 42);
  return at + ENTRY_BYTES;
}

export function readEntry(buf: Buffer, at: number): PackEntry {
  const type = buf[at];
  const compression = buf[at + 1];
  if ((type !== 0 && type !== 1) || (compression !== 0 && compression !== 1)) {
    throw new Error(`invalid entry at ${at}`);
  }
  return {
    type,
    compression,
    id: Buffer.from(buf.subarray(at + 2, at + 34)),
    offset: buf.readUInt32LE(at + 34),
    length: buf.readUInt32LE(at + 38),
    rawLength: buf.readUInt32LE(at + 42),
  };
}

/** Entries written back to back (ENTRY_BYTES each), as in pack headers and index files. */
export function encodeEntries(entries: readonly PackEntry[]): Buffer {
  const buf = Buffer.allocUnsafe(entries.length * ENTRY_BYTES);
  let at = 0;
  for (const e of entries) at = writeEntry(buf, at, e);
  return buf;
}

/** Entries read back from encodeEntries' form. */
export function decodeEntries(records: Buffer): PackEntry[] {
  const out: PackEntry[] = [];
  for (let at = 0; at + ENTRY_BYTES <= records.length; at += ENTRY_BYTES) out.push(readEntry(records, at));
  return out;
}

/**
 * What follows a pack's blobs: its sealed header, then the header's length (u32le). The entries come encoded
 * (encodeEntries' form: a pack being written keeps them so, 46 bytes per blob).
 */
export function packTrailer(encKey: Buffer, records: Buffer): [header: Buffer, length: Buffer] {
  const plain = Buffer.allocUnsafe(5 + records.length);
  plain[0] = FORMAT_VERSION;
  plain.writeUInt32LE(records.length / ENTRY_BYTES, 1);
  records.copy(plain, 5);
  const header = seal(encKey, PACK_HEADER_AAD, plain);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(header.length, 0);
  return [header, len];
}

/** Parses the header of a pack from its tail. Returns undefined when `tail` is too short (need more bytes). */
export function parsePackHeader(
  encKey: Buffer,
  tail: Buffer,
  packSize: number,
  packName: string,
): { entries: PackEntry[]; headerBytes: number } | { need: number } {
  if (tail.length < 4 || packSize < 4) throw damaged(packName, 'too short to hold a header');
  const hlen = tail.readUInt32LE(tail.length - 4);
  if (hlen + 4 > packSize) throw damaged(packName, 'header length points outside the file');
  if (hlen + 4 > tail.length) return { need: hlen + 4 };
  const plain = open(encKey, PACK_HEADER_AAD, tail.subarray(tail.length - 4 - hlen, tail.length - 4));
  if (!plain) throw damaged(packName, 'header fails authentication');
  if (plain[0] !== FORMAT_VERSION) throw damaged(packName, `unsupported pack version ${plain[0]}`);
  const n = plain.readUInt32LE(1);
  if (plain.length !== 5 + n * ENTRY_BYTES) throw damaged(packName, 'header has the wrong length');
  const entries: PackEntry[] = [];
  const dataEnd = packSize - 4 - hlen;
  for (let i = 0; i < n; i++) {
    const e = readEntry(plain, 5 + i * ENTRY_BYTES);
    if (e.offset + e.length > dataEnd) throw damaged(packName, `blob ${i} lies outside the data area`);
    entries.push(e);
  }
  return { entries, headerBytes: hlen + 4 };
}

function damaged(name: string, msg: string): FlashbackError {
  return new FlashbackError('ERR_DAMAGED', `pack ${name}: ${msg}`, { hint: 'run "flashback check --read-data"' });
}

export interface IndexPack {
  packId: string;
  entries: PackEntry[];
}

export function encodeIndex(packs: IndexPack[], superseded: string[]): Buffer {
  return encodeIndexRecords(packs.map(encodeIndexPack), superseded);
}

/**
 * One pack's record in an index file: packId[32] ‖ u32le(count) ‖ its entries. A backup keeps the packs saved
 * since its last checkpoint in this form (46 bytes per blob) rather than as entry objects (≈ 250 bytes).
 */
export function encodeIndexPack(p: IndexPack | { packId: string; records: Buffer }): Buffer {
  const records = 'records' in p ? p.records : encodeEntries(p.entries);
  const buf = Buffer.allocUnsafeSlow(36 + records.length);
  buf.write(p.packId, 0, 32, 'hex');
  buf.writeUInt32LE(records.length / ENTRY_BYTES, 32);
  records.copy(buf, 36);
  return buf;
}

/** An index file body from pack records (encodeIndexPack) and the ids of the index files it supersedes. */
export function encodeIndexRecords(records: readonly Buffer[], superseded: string[]): Buffer {
  let n = 5 + 4 + superseded.length * 32;
  for (const r of records) n += r.length;
  const buf = Buffer.allocUnsafe(n);
  buf[0] = FORMAT_VERSION;
  buf.writeUInt32LE(records.length, 1);
  let at = 5;
  for (const r of records) at += r.copy(buf, at);
  buf.writeUInt32LE(superseded.length, at);
  at += 4;
  for (const s of superseded) at += Buffer.from(s, 'hex').copy(buf, at);
  return buf;
}

export function decodeIndex(buf: Buffer): { packs: IndexPack[]; superseded: string[] } {
  if (buf[0] !== FORMAT_VERSION) {
    throw new FlashbackError('ERR_UNSUPPORTED_VERSION', `index version ${buf[0]} is not supported`, {
      hint: 'upgrade flashback',
    });
  }
  const packs: IndexPack[] = [];
  const np = buf.readUInt32LE(1);
  let at = 5;
  for (let i = 0; i < np; i++) {
    const packId = buf.toString('hex', at, at + 32);
    const n = buf.readUInt32LE(at + 32);
    at += 36;
    const entries: PackEntry[] = [];
    for (let j = 0; j < n; j++, at += ENTRY_BYTES) entries.push(readEntry(buf, at));
    packs.push({ packId, entries });
  }
  const ns = buf.readUInt32LE(at);
  at += 4;
  const superseded: string[] = [];
  for (let i = 0; i < ns; i++, at += 32) superseded.push(buf.toString('hex', at, at + 32));
  if (at !== buf.length) throw new Error('trailing bytes');
  return { packs, superseded };
}

/** A sealed metadata file: seal(encKey, aad, u8(compression) ‖ body'). */
export function sealFile(encKey: Buffer, aad: Buffer, body: Uint8Array, level: number): Buffer {
  const c = compress(body, level);
  const plain = Buffer.allocUnsafe(1 + c.bytes.length);
  plain[0] = c.compression;
  plain.set(c.bytes, 1);
  return seal(encKey, aad, plain);
}

export function openFile(encKey: Buffer, aad: Buffer, sealed: Buffer, what: string): Buffer {
  const plain = open(encKey, aad, sealed);
  if (!plain) {
    throw new FlashbackError('ERR_DAMAGED', `${what} fails authentication (damaged or truncated)`, {
      hint: 'run "flashback check" to see what is affected',
    });
  }
  try {
    return decompress(plain.subarray(1), plain[0]);
  } catch (cause) {
    throw new FlashbackError('ERR_DAMAGED', `${what} cannot be decompressed`, { cause });
  }
}

/**
 * Walks an index body without building an object per blob (loading the index of a large repository is on
 * the path of every command): `onEntry` gets the body, where the entry's 32-byte id starts in it, and a
 * reused location object. Returns the superseded index file names.
 */
export function scanIndex(
  buf: Buffer,
  onPack: (packId: string) => number,
  onEntry: (buf: Buffer, idAt: number, loc: { pack: number; offset: number; length: number; rawLength: number; type: 0 | 1; compression: 0 | 1 }) => void,
): string[] {
  if (buf[0] !== FORMAT_VERSION) {
    throw new FlashbackError('ERR_UNSUPPORTED_VERSION', `index version ${buf[0]} is not supported`, { hint: 'upgrade flashback' });
  }
  const loc = { pack: 0, offset: 0, length: 0, rawLength: 0, type: 0 as 0 | 1, compression: 0 as 0 | 1 };
  const np = buf.readUInt32LE(1);
  let at = 5;
  for (let i = 0; i < np; i++) {
    loc.pack = onPack(buf.toString('hex', at, at + 32));
    const n = buf.readUInt32LE(at + 32);
    at += 36;
    if (at + n * ENTRY_BYTES > buf.length) throw new Error('index body is truncated');
    for (let j = 0; j < n; j++, at += ENTRY_BYTES) {
      const type = buf[at];
      const compression = buf[at + 1];
      if (type > 1 || compression > 1) throw new Error(`invalid entry at ${at}`);
      loc.type = type as 0 | 1;
      loc.compression = compression as 0 | 1;
      loc.offset = buf.readUInt32LE(at + 34);
      loc.length = buf.readUInt32LE(at + 38);
      loc.rawLength = buf.readUInt32LE(at + 42);
      onEntry(buf, at + 2, loc);
    }
  }
  const ns = buf.readUInt32LE(at);
  at += 4;
  const superseded: string[] = [];
  for (let i = 0; i < ns; i++, at += 32) superseded.push(buf.toString('hex', at, at + 32));
  if (at !== buf.length) throw new Error('trailing bytes');
  return superseded;
}

/**
 * The pack numbers of an index body, in order (`onPack` gives each pack id its number), after checking the
 * body's structure as scanIndex does (version, lengths, no trailing bytes); not the entries themselves. For a
 * loader that then reads every entry of the body in one go (BlobIndex.addBody).
 */
export function indexPackNumbers(buf: Buffer, onPack: (packId: string) => number): Uint32Array {
  if (buf[0] !== FORMAT_VERSION) {
    throw new FlashbackError('ERR_UNSUPPORTED_VERSION', `index version ${buf[0]} is not supported`, { hint: 'upgrade flashback' });
  }
  const np = buf.readUInt32LE(1);
  if (5 + np * 36 > buf.length) throw new Error('index body is truncated');
  const packs = new Uint32Array(np);
  let at = 5;
  for (let i = 0; i < np; i++) {
    if (at + 36 > buf.length) throw new Error('index body is truncated');
    packs[i] = onPack(buf.toString('hex', at, at + 32));
    const n = buf.readUInt32LE(at + 32);
    at += 36 + n * ENTRY_BYTES;
    if (at > buf.length) throw new Error('index body is truncated');
  }
  if (at + 4 > buf.length) throw new Error('index body is truncated');
  const ns = buf.readUInt32LE(at);
  if (at + 4 + ns * 32 !== buf.length) throw new Error(at + 4 + ns * 32 > buf.length ? 'index body is truncated' : 'trailing bytes');
  return packs;
}

/** How many entries an index body lists (an upper bound of what it adds), reading only the pack headers. */
export function indexEntryCount(buf: Buffer): number {
  const np = buf.readUInt32LE(1);
  let n = 0;
  for (let i = 0, at = 5; i < np && at + 36 <= buf.length; i++) {
    const k = buf.readUInt32LE(at + 32);
    n += k;
    at += 36 + k * ENTRY_BYTES;
  }
  return n;
}

/** The superseded list of an index body, skipping over the packs without reading them. */
export function indexSuperseded(buf: Buffer): string[] {
  const np = buf.readUInt32LE(1);
  let at = 5;
  for (let i = 0; i < np; i++) at += 36 + buf.readUInt32LE(at + 32) * ENTRY_BYTES;
  const ns = buf.readUInt32LE(at);
  const out: string[] = [];
  for (let i = 0, p = at + 4; i < ns; i++, p += 32) out.push(buf.toString('hex', p, p + 32));
  return out;
}
