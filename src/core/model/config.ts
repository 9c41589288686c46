/** The repository `config` file (design.md §5). */
import { hmac } from '../crypto/crypto.js';
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
  mac?: string;
}

export const DEFAULT_CHUNKER: ChunkerConfig = { algorithm: 'fastcdc-gear32', min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const REPO_VERSION = 1;

function canonical(c: Config): string {
  const { flashback, version, id, family, created, chunker, packSize, compression } = c;
  return JSON.stringify({
    flashback,
    version,
    id,
    family,
    created,
    chunker: { algorithm: chunker.algorithm, min: chunker.min, avg: chunker.avg, max: chunker.max },
    packSize,
    compression: { algorithm: compression.algorithm, level: compression.level },
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
