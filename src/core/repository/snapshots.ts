/** Snapshot files (design.md §11): list, load, save, and resolve user references (id prefix, latest, latest~N). */
import type { Backend } from '../backend/backend.js';
import { sha256, type RepoKeys } from '../crypto/crypto.js';
import { DamageError, FlashbackError } from '../errors/errors.js';
import type { Config } from '../model/config.js';
import { validateSnapshot, type Snapshot, type SnapshotRef } from '../model/snapshot.js';
import { openFile, sealFile } from '../pack/format.js';
import { compareStrings } from '../util/compare.js';

export const SNAPSHOT_AAD = Buffer.from('flashback snapshot v1');

export interface SnapshotFilter {
  hosts?: string[];
  paths?: string[];
  tags?: string[];
}

export class SnapshotStore {
  constructor(
    private readonly backend: Backend,
    private readonly keys: RepoKeys,
    private readonly config: Config,
  ) {}

  async load(id: string): Promise<Snapshot> {
    const bytes = await this.backend.load('snapshots', id);
    if (sha256(bytes).toString('hex') !== id) throw new DamageError(`snapshots/${id}`, 'content does not match its name (damaged or truncated)');
    const json = openFile(this.keys.encKey, SNAPSHOT_AAD, bytes, `snapshots/${id}`);
    let s: Snapshot;
    try {
      s = JSON.parse(json.toString('utf8'));
    } catch (cause) {
      throw new DamageError(`snapshots/${id}`, 'is not valid JSON', { cause });
    }
    if (!validateSnapshot(s)) throw new DamageError(`snapshots/${id}`, 'has missing or invalid fields');
    return s;
  }

  async save(s: Snapshot): Promise<string> {
    const bytes = sealFile(this.keys.encKey, SNAPSHOT_AAD, Buffer.from(JSON.stringify(s)), this.config.compression.level);
    const id = sha256(bytes).toString('hex');
    await this.backend.save('snapshots', id, bytes);
    return id;
  }

  /** All readable snapshots, oldest first. Damaged ones are passed to onDamage (or thrown). */
  async list(onDamage?: (file: string, err: Error) => void): Promise<SnapshotRef[]> {
    const out: SnapshotRef[] = [];
    for await (const f of this.backend.list('snapshots')) {
      try {
        out.push({ id: f.name, snapshot: await this.load(f.name) });
      } catch (err) {
        if (!onDamage) throw err;
        onDamage(`snapshots/${f.name}`, err as Error);
      }
    }
    return out.sort((a, b) => compareStrings(a.snapshot.time, b.snapshot.time) || compareStrings(a.id, b.id));
  }

  /**
   * Resolves "latest", "latest~N" (N snapshots before the latest), or an id prefix, among the snapshots that
   * pass the filter. Damaged snapshot files are skipped for "latest" but reported.
   */
  async resolve(ref: string, filter: SnapshotFilter = {}, onDamage?: (file: string, err: Error) => void): Promise<SnapshotRef> {
    return resolveSnapshot(filterSnapshots(await this.list(onDamage ?? (() => undefined)), filter), ref);
  }

  /** Removes one snapshot file (forget). Only the snapshot: the data it references stays until prune. */
  async remove(id: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new FlashbackError('ERR_INVALID', `not a snapshot id: ${JSON.stringify(id)}`);
    await this.backend.remove('snapshots', id);
  }
}

/** Resolves a user reference within a list (oldest first, as list() returns it): see SnapshotStore.resolve. */
export function resolveSnapshot(all: SnapshotRef[], ref: string): SnapshotRef {
  const m = /^latest(?:~(\d+))?$/.exec(ref);
  if (m) {
    const back = Number(m[1] ?? 0);
    const r = all[all.length - 1 - back];
    if (!r) {
      throw new FlashbackError('ERR_NOT_FOUND', all.length ? `there are only ${all.length} matching snapshots` : 'no snapshot matches', {
        hint: 'see "flashback snapshots"',
      });
    }
    return r;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) {
    throw new FlashbackError('ERR_USAGE', `invalid snapshot reference "${ref}"`, { hint: 'use an id prefix, "latest", or "latest~1" for the one before' });
  }
  const hits = all.filter((r) => r.id.startsWith(ref));
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) throw new FlashbackError('ERR_USAGE', `snapshot id prefix "${ref}" is ambiguous (${hits.length} matches)`, { hint: 'give more digits' });
  throw new FlashbackError('ERR_NOT_FOUND', `no snapshot ${ref}`, { hint: 'see "flashback snapshots"' });
}

export function filterSnapshots(list: SnapshotRef[], f: SnapshotFilter): SnapshotRef[] {
  return list.filter(({ snapshot: s }) => {
    if (f.hosts?.length && !f.hosts.includes(s.hostname)) return false;
    if (f.paths?.length && !f.paths.every((p) => s.paths.includes(p))) return false;
    if (f.tags?.length && !f.tags.some((t) => t.split(',').every((x) => s.tags.includes(x)))) return false;
    return true;
  });
}
