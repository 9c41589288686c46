/**
 * `device add NAME PATH` (docs/rotation.md §4): register the repository at PATH (or PATH/flashback), or
 * create one there in the family of the registered devices. Returns the registry entry; writing it into the
 * configuration file is the caller's (registry.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LocalBackend } from '../backend/local.js';
import { FlashbackError, isErrno } from '../errors/errors.js';
import type { ScryptParams } from '../crypto/crypto.js';
import { Repository } from '../repository/repository.js';
import type { DeviceEntry, FlashbackConfig } from './config.js';
import { discover, probe } from './discover.js';
import type { HostEnv } from './paths.js';
import { checkNewName } from './registry.js';

export interface AddOptions {
  config: FlashbackConfig;
  env: Pick<HostEnv, 'home' | 'user'>;
  name: string;
  /** absolute */
  path: string;
  refresh?: number;
  /** passphrase of an existing repository: the one being added, or a registered device (to join its family) */
  password: (what: { path: string; device?: DeviceEntry }) => Promise<string>;
  /** passphrase for a repository being created */
  newPassword: (path: string) => Promise<string>;
  kdf?: ScryptParams;
}

export interface AddResult {
  entry: DeviceEntry;
  created: boolean;
  /** for a new repository: the device whose family it joined */
  joined?: string;
}

async function entries(dir: string): Promise<string[] | undefined> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    if (isErrno(err, 'ENOTDIR')) throw new FlashbackError('ERR_INVALID', `${dir} is not a directory`, { hint: 'give the directory where the device is mounted' });
    throw err;
  }
}

/** Where the repository is, or should be created: PATH, or PATH/flashback on a device that holds other files. */
async function locate(path: string): Promise<{ location: string; exists: boolean }> {
  if (await probe(path)) return { location: path, exists: true };
  const sub = join(path, 'flashback');
  if (await probe(sub)) return { location: sub, exists: true };
  const names = await entries(path);
  if (names === undefined || names.length === 0) return { location: path, exists: false };
  const inner = await entries(sub);
  if (inner !== undefined && inner.length > 0) {
    throw new FlashbackError('ERR_INVALID', `${sub} exists and is not a Flashback repository`, { hint: 'give an empty directory, or a device with a repository' });
  }
  return { location: sub, exists: false };
}

export async function addDevice(o: AddOptions): Promise<AddResult> {
  const cfg = o.config;
  checkNewName(cfg, o.name);
  const { location, exists } = await locate(o.path);
  const family = cfg.devices[0]?.family;
  if (exists) {
    const seen = await probe(location);
    const dup = cfg.devices.find((d) => d.id === seen?.id);
    if (dup) throw new FlashbackError('ERR_INVALID', `the repository at ${location} is already registered as "${dup.name}"`, { hint: 'a device is recognised by its repository id wherever it is mounted; nothing to add' });
    const repo = await Repository.open(new LocalBackend(location), await o.password({ path: location }));
    if (family && repo.config.family !== family) {
      throw new FlashbackError('ERR_INVALID', `the repository at ${location} belongs to another family than the registered devices`, {
        hint: 'devices of one configuration must share chunker and blob ids; add an empty device to create a repository in the family, or make this one with "init --copy-secrets-from"',
      });
    }
    return { entry: { name: o.name, id: repo.config.id, family: repo.config.family, path: location, refresh: o.refresh }, created: false };
  }
  let familyOf: Repository | undefined;
  let joined: string | undefined;
  if (cfg.devices.length) {
    const disc = await discover(cfg, o.env);
    const member = cfg.devices.find((d) => disc.found.get(d.id)?.length === 1);
    if (!member) {
      throw new FlashbackError('ERR_NOT_FOUND', 'no registered device is connected: a new device joins their family, which needs one of them', {
        hint: `plug in one of: ${cfg.devices.map((d) => d.name).join(', ')}, then run "device add" again`,
      });
    }
    const at = disc.found.get(member.id)![0];
    familyOf = await Repository.open(new LocalBackend(at), await o.password({ path: at, device: member }));
    joined = member.name;
  }
  const repo = await Repository.init(new LocalBackend(location), await o.newPassword(location), { familyOf, kdf: o.kdf });
  return { entry: { name: o.name, id: repo.config.id, family: repo.config.family, path: location, refresh: o.refresh }, created: true, joined };
}
