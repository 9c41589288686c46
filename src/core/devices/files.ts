/** Host-side files (the configuration, the host state): read, and written atomically (temp + fsync + rename). */
import { promises as fsp } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlashbackError, errorMessage, isErrno } from '../errors/errors.js';
import { parseConfigText, type FlashbackConfig } from './config.js';

export interface LoadedConfig {
  file: string;
  exists: boolean;
  text: string;
  config: FlashbackConfig;
}

/** A missing file is an empty configuration (every default, no device). */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  let text = '';
  let exists = true;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) {
      throw new FlashbackError('ERR_IO', `cannot read the configuration file ${file}: ${errorMessage(err)}`, { cause: err, hint: 'check its permissions' });
    }
    exists = false;
  }
  return { file, exists, text, config: parseConfigText(text, file) };
}

/** Writes `data` to `file` atomically: a reader sees the old file or the new one, never a torn one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await fsp.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw new FlashbackError('ERR_IO', `cannot write ${file}: ${errorMessage(err)}`, { cause: err, hint: 'check the permissions of its directory and the free space' });
  }
  const d = await fsp.open(dir, 'r').catch(() => undefined);
  await d?.sync().catch(() => undefined);
  await d?.close();
}
