/**
 * Primitives of docs/design.md §2: SHA-256, HMAC-SHA256, HKDF-SHA256, scrypt, AES-256-GCM sealing and the keyed
 * blob id (BLAKE3 keyed hash, or HMAC-SHA256 in version 1 repositories). Everything but BLAKE3 is OpenSSL
 * (AES-NI and SHA-NI): node:crypto, or the addon for the per-blob calls. BLAKE3 is @napi-rs/blake-hash (the
 * Rust reference implementation, with its SIMD code). Pure functions over bytes.
 */
import { createHash, createHmac, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { createRequire } from 'node:module';
import { addon } from '../util/addon.js';

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** SHA-256 of the bytes, or of the parts back to back (a pack: thousands of blobs, never joined). */
export function sha256(data: Uint8Array | readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of data instanceof Uint8Array ? [data] : data) h.update(p);
  return h.digest();
}

/** HMAC-SHA256 of the concatenated parts (one part, the per-blob case, goes through the addon's reused context). */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  if (parts.length === 1) return addon().hmac(key, parts[0]);
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** How a repository names its blobs (config `blobId`, design.md §2): a keyed hash of the plain bytes. */
export type BlobIdFunction = 'blake3' | 'hmac-sha256';

export const BLOB_ID_FUNCTIONS: readonly BlobIdFunction[] = ['blake3', 'hmac-sha256'];

/** What names a repository's blobs: its id function and the family's id key. */
export interface BlobIdKey {
  fn: BlobIdFunction;
  key: Uint8Array;
}

type Blake3Hasher = import('@napi-rs/blake-hash').Blake3Hasher;
/** the thread's keyed hasher, reset per blob (a new one per blob costs more than hashing a small blob) */
let keyed: { key: Uint8Array; hasher: Blake3Hasher } | undefined;

function blake3Keyed(key: Uint8Array, plain: Uint8Array): Buffer {
  if (!keyed || (keyed.key !== key && Buffer.compare(keyed.key, key) !== 0)) {
    // loaded on first use: a version 1 repository never needs it
    const { Blake3Hasher } = createRequire(import.meta.url)('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash');
    keyed = { key, hasher: Blake3Hasher.newKeyed(Buffer.from(key)) };
  }
  keyed.hasher.reset();
  keyed.hasher.update(plain);
  return keyed.hasher.digestBuffer();
}

/** The id of a blob: the keyed hash of its plain bytes (32 bytes). */
export function blobId(k: BlobIdKey, plain: Uint8Array): Buffer {
  return k.fn === 'blake3' ? blake3Keyed(k.key, plain) : addon().hmac(k.key, plain);
}

export function hkdf(key: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), Buffer.from(info, 'utf8'), 32));
}

/**
 * seal(k, aad, p) = nonce ‖ ciphertext ‖ tag, with a fresh random 96-bit nonce. AES-256-GCM runs in the
 * addon (native/crypto.c), on the same OpenSSL as node:crypto, with the thread's cipher context reused:
 * node:crypto would build a cipher object per blob. The result owns its ArrayBuffer (transferable).
 */
export function seal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
  return addon().seal(key, aad, plain);
}

/** seal() written at out[offset..]; returns the bytes written, plain.length + SEAL_OVERHEAD. */
export function sealInto(key: Uint8Array, aad: Uint8Array, plain: Uint8Array, out: Uint8Array, offset: number): number {
  return addon().sealInto(key, aad, plain, out, offset);
}

/** Opens a seal; returns undefined when authentication fails (wrong key, tampered or truncated bytes). */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  return addon().open(key, aad, sealed);
}

/**
 * open() into `out` (at least sealed.length - SEAL_OVERHEAD bytes, reused by the caller); returns a view of the
 * plaintext, or undefined when authentication fails.
 */
export function openInto(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Buffer): Buffer | undefined {
  const n = addon().openInto(key, aad, sealed, out);
  return n < 0 ? undefined : out.subarray(0, n);
}

export interface ScryptParams {
  n: number;
  r: number;
  p: number;
}

export function deriveKek(passphrase: string, salt: Uint8Array, prm: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const maxmem = 128 * prm.n * prm.r * prm.p + 256 * prm.n * prm.r + 64 * 1024 * 1024;
    scrypt(Buffer.from(passphrase, 'utf8'), salt, 32, { N: prm.n, r: prm.r, p: prm.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** The keys of one unlocked repository (design.md §4). */
export interface RepoKeys {
  masterKey: Buffer;
  familySecret: Buffer;
  encKey: Buffer;
  configKey: Buffer;
  idKey: Buffer;
  chunkerKey: Buffer;
  family: string;
}

export function deriveKeys(masterKey: Buffer, familySecret: Buffer): RepoKeys {
  return {
    masterKey,
    familySecret,
    encKey: hkdf(masterKey, 'flashback v1 encryption'),
    configKey: hkdf(masterKey, 'flashback v1 config'),
    idKey: hkdf(familySecret, 'flashback v1 blob id'),
    chunkerKey: hkdf(familySecret, 'flashback v1 chunker'),
    family: hmac(familySecret, Buffer.from('flashback v1 family id')).toString('hex'),
  };
}

export function randomId(): string {
  return randomBytes(32).toString('hex');
}
