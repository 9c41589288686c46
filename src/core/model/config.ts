/** The repository `config` file (design.md §5). */
import { BLOB_ID_FUNCTIONS, hmac, type BlobIdFunction } from '../crypto/crypto.js';
import { FlashbackError } from '../errors/errors.js';

export interface ChunkerConfig {
  algorithm: 'fastcdc-gear32';
  min: number;
  avg: number;
  max: number;
}

export interface Config {
  flashback: 'repository';
  version: number;
  id: string;
  family: string;
  created: string;
  chunker: ChunkerConfig;
  packSize: number;
  compression: { algorithm: 'zstd'; level: number };
  /**
   * Version 2 on: how blobs are named. Version 1 has no such field and always uses HMAC-SHA256; parseConfig
   * fills it in, so code reads `blobId` for every version.
   */
  blobId: BlobIdFunction;
  mac?: string;
}

export const DEFAULT_CHUNKER: ChunkerConfig = { algorithm: 'fastcdc-gear32', min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/** Version 2 (2026-11-22): the `blobId` field, and BLAKE3 blob ids in new families. */
export const REPO_VERSION = 2;

function canonical(c: Config): string {
  const { flashback, version, id, family, created, chunker, packSize, compression, blobId } = c;
  return JSON.stringify({
    flashback,
    version,
    id,
    family,
    created,
    chunker: { algorithm: chunker.algorithm, min: chunker.min, avg: chunker.avg, max: chunker.max },
    packSize,
    compression: { algorithm: compression.algorithm, level: compression.level },
    // absent from version 1 configs, whose MAC covers the fields above only
    ...(version >= 2 ? { blobId } : {}),
  });
}

export function signConfig(c: Config, configKey: Buffer): Buffer {
  const mac = hmac(configKey, Buffer.from(canonical(c))).toString('hex');
  return Buffer.from(JSON.stringify({ ...JSON.parse(canonical(c)), mac }, null, 2) + '\n');
}

/** Parses config without verifying it (the MAC needs the key; see verifyConfig). */
export function parseConfig(bytes: Buffer, where: string): Config {
  let c: Config;
  try {
    c = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new FlashbackError('ERR_DAMAGED', `${where}/config is not valid JSON`, { cause, hint: 'the config file is damaged' });
  }
  if (c?.flashback !== 'repository' || typeof c.id !== 'string') {
    throw new FlashbackError('ERR_NO_REPOSITORY', `${where} does not hold a Flashback repository`, {
      hint: 'check the path, or create one with "flashback init"',
    });
  }
  if (c.version > REPO_VERSION) {
    throw new FlashbackError('ERR_UNSUPPORTED_VERSION', `repository version ${c.version} is newer than this flashback supports (${REPO_VERSION})`, {
      hint: 'upgrade flashback',
    });
  }
  if (!Number.isSafeInteger(c.version) || c.version < 1) throw new FlashbackError('ERR_DAMAGED', `${where}/config has an invalid version`);
  if (c.version === 1) {
    if (c.blobId !== undefined) throw new FlashbackError('ERR_DAMAGED', `${where}/config has a blobId, which version 1 does not`);
    c.blobId = 'hmac-sha256';
  } else if (!BLOB_ID_FUNCTIONS.includes(c.blobId)) {
    throw new FlashbackError('ERR_DAMAGED', `${where}/config names an unknown blob id function ${JSON.stringify(c.blobId)}`);
  }
  const ch = c.chunker;
  if (!ch || !(ch.min > 0 && ch.min <= ch.avg && ch.avg <= ch.max && ch.max <= 64 * 1024 * 1024) || !(c.packSize > 0)) {
    throw new FlashbackError('ERR_DAMAGED', `${where}/config has invalid parameters`);
  }
  return c;
}

export function verifyConfig(c: Config, configKey: Buffer, repositoryId: string, where: string): void {
  const mac = hmac(configKey, Buffer.from(canonical(c))).toString('hex');
  if (mac !== c.mac || c.id !== repositoryId) {
    throw new FlashbackError('ERR_DAMAGED', `${where}/config does not match the key (damaged, or it belongs to another repository)`, {
      hint: 'the config file was modified; restore it from a backup copy of the device',
    });
  }
}
