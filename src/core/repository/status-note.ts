/**
 * Device notes (design.md §16): `status/<sha256>` = sealFile(encKey, "flashback status v1", JSON), what the
 * last `run` learned about this repository (last backup, sizes, scrub coverage, last error), so that another
 * host learns it from the device. One small file per run; older ones are removed after the new one is
 * durable. The JSON's meaning belongs to the device registry (core/devices); here it is an object with a
 * `version` of 1 and a `time`. Unreadable notes are ignored: nothing that protects data depends on them.
 */
import { sha256, type RepoKeys } from '../crypto/crypto.js';
import type { Backend } from '../backend/backend.js';
import { errorMessage } from '../errors/errors.js';
import { openFile, sealFile } from '../pack/format.js';

const STATUS_AAD = Buffer.from('flashback status v1');

export interface NoteStore {
  readonly backend: Backend;
  readonly keys: Pick<RepoKeys, 'encKey'>;
}

export interface StatusNote {
  version: 1;
  time: string;
  [key: string]: unknown;
}

/** The readable note with the newest time (undefined when none), and why others were ignored. */
export async function loadStatusNote(store: NoteStore): Promise<{ note?: StatusNote; warnings: string[] }> {
  let best: StatusNote | undefined;
  const warnings: string[] = [];
  for await (const name of store.backend.listNames('status')) {
    try {
      const bytes = await store.backend.load('status', name);
      if (sha256(bytes).toString('hex') !== name) throw new Error('content does not match its name');
      const n = JSON.parse(openFile(store.keys.encKey, STATUS_AAD, bytes, `status/${name}`).toString('utf8')) as StatusNote;
      if (typeof n !== 'object' || n === null || n.version !== 1 || !Number.isFinite(Date.parse(n.time))) throw new Error('not a version 1 status note');
      if (!best || Date.parse(n.time) > Date.parse(best.time)) best = n;
    } catch (err) {
      warnings.push(`status/${name}: ${errorMessage(err)}; ignored`);
    }
  }
  return { note: best, warnings };
}

/** Writes `note` as a new file, then removes every other note. Returns the new file's name. */
export async function saveStatusNote(store: NoteStore, note: StatusNote): Promise<string> {
  const sealed = sealFile(store.keys.encKey, STATUS_AAD, Buffer.from(JSON.stringify(note)), 3);
  const name = sha256(sealed).toString('hex');
  await store.backend.save('status', name, sealed);
  const old: string[] = [];
  for await (const n of store.backend.listNames('status')) if (n !== name) old.push(n);
  for (const n of old) await store.backend.remove('status', n);
  return name;
}
