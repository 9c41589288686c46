/**
 * Primitives of docs/design.md §2: SHA-256, HMAC-SHA256, HKDF-SHA256, scrypt and AES-256-GCM sealing.
 * Everything here is node:crypto (OpenSSL, AES-NI and SHA-NI), pure functions over bytes.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, scrypt } from 'node:crypto';

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hkdf(key: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), Buffer.from(info, 'utf8'), 32));
}

/** seal(k, aad, p) = nonce ‖ ciphertext ‖ tag */
export function seal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const out = Buffer.allocUnsafe(plain.length + SEAL_OVERHEAD);
  nonce.copy(out, 0);
  let n = NONCE_BYTES;
  n += c.update(plain).copy(out, n);
  n += c.final().copy(out, n);
  c.getAuthTag().copy(out, n);
  return out;
}

/** Opens a seal; returns undefined when authentication fails (wrong key, tampered or truncated bytes). */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(tag);
  const body = d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
  try {
    const last = d.final();
    return last.length === 0 ? body : Buffer.concat([body, last]);
  } catch {
    return undefined;
  }
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
