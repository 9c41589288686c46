/** Key slots (design.md §4): one JSON file per passphrase, each wrapping a full copy of the secrets. */
import { randomBytes } from 'node:crypto';
import { deriveKek, open, seal, type ScryptParams } from '../crypto/crypto.js';
import { FlashbackError } from '../errors/errors.js';

export const KEY_AAD = Buffer.from('flashback key slot v1');
// 64 MiB (restic: at most 60 MiB), two sequential passes: about half a second here, and half the peak memory of N=2^17
export const DEFAULT_KDF: ScryptParams = { n: 2 ** 16, r: 8, p: 2 };

export interface KeySlot {
  version: 1;
  kdf: 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: string;
  created: string;
  hostname: string;
  username: string;
  label: string;
  data: string;
}

export interface Secrets {
  repository: string;
  masterKey: Buffer;
  familySecret: Buffer;
}

export async function makeKeySlot(
  passphrase: string,
  secrets: Secrets,
  meta: { hostname: string; username: string; label: string; created: string },
  kdf: ScryptParams,
): Promise<Buffer> {
  const salt = randomBytes(32);
  const kek = await deriveKek(passphrase, salt, kdf);
  const payload = Buffer.from(
    JSON.stringify({
      repository: secrets.repository,
      masterKey: secrets.masterKey.toString('base64'),
      familySecret: secrets.familySecret.toString('base64'),
    }),
  );
  const slot: KeySlot = {
    version: 1,
    kdf: 'scrypt',
    ...kdf,
    salt: salt.toString('base64'),
    ...meta,
    data: seal(kek, KEY_AAD, payload).toString('base64'),
  };
  return Buffer.from(JSON.stringify(slot, null, 2) + '\n');
}

export function parseKeySlot(bytes: Buffer, name: string): KeySlot {
  try {
    const s = JSON.parse(bytes.toString('utf8')) as KeySlot;
    if (s.kdf !== 'scrypt' || typeof s.data !== 'string' || typeof s.salt !== 'string') throw new Error('bad fields');
    if (s.version !== 1) throw new FlashbackError('ERR_UNSUPPORTED_VERSION', `key slot ${name} has version ${s.version}`);
    return s;
  } catch (cause) {
    if (cause instanceof FlashbackError) throw cause;
    throw new FlashbackError('ERR_DAMAGED', `key slot ${name} is damaged`, { cause });
  }
}

/** Returns the secrets, or undefined when the passphrase does not open this slot. */
export async function openKeySlot(slot: KeySlot, passphrase: string): Promise<Secrets | undefined> {
  if (!(slot.n >= 2 && slot.n <= 2 ** 22 && slot.r >= 1 && slot.r <= 32 && slot.p >= 1 && slot.p <= 16)) return undefined;
  const kek = await deriveKek(passphrase, Buffer.from(slot.salt, 'base64'), slot);
  const plain = open(kek, KEY_AAD, Buffer.from(slot.data, 'base64'));
  if (!plain) return undefined;
  const j = JSON.parse(plain.toString('utf8'));
  return {
    repository: j.repository,
    masterKey: Buffer.from(j.masterKey, 'base64'),
    familySecret: Buffer.from(j.familySecret, 'base64'),
  };
}
