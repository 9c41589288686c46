/**
 * heal (docs/maintenance.md "Healing from a twin"): blobs this repository lost — in damaged packs (scrub
 * records), in packs missing from the device, or referenced by snapshots but in no index — are fetched from a
 * twin of the same family (verified there, re-sealed here) or, with fromSource, cut again from the live files.
 * Healed and salvaged blobs go into new packs first; then one new index replaces the old one; then the damaged
 * packs are deleted (the order of repair packs: a crash leaves the old index in force).
 */
import { FlashbackError } from '../errors/errors.js';
import { PackTable } from '../index/pack-table.js';
import type { Node } from '../model/node.js';
import { transferBlobs, type BlobRef } from '../repository/blob-transfer.js';
import { IndexFileWriter } from '../repository/index-writer.js';
import type { Lock } from '../repository/lock.js';
import { PackSink } from '../repository/pack-sink.js';
import type { Repository } from '../repository/repository.js';
import { healFromSource, type LostBlob } from './heal-source.js';
import { commitRepair, damagedPacks, indexSecondCopies, salvagePacks, type PackSalvage } from './repair-packs.js';

const PATHS_PER_BLOB = 4;

export interface HealOptions {
  /** a repository of the same family, open (its lock is the caller's) */
  twin?: Repository;
  fromSource?: boolean;
  signal?: AbortSignal;
  now?: number;
  onWarning?: (what: string, message: string) => void;
}

export interface HealResult {
  /** damaged or missing packs that were retired, with their intact blobs salvaged */
  packs: PackSalvage[];
  healed: { blob: string; type: 0 | 1; from: 'twin' | 'source'; path?: string }[];
  notHealed: { blob: string; type: 0 | 1; reason: string; files: string[] }[];
  /** blobs lost in retired packs that no snapshot references: dropped, not sought */
  unreferenced: string[];
  newPacks: number;
  /** snapshots walked */
  snapshots: number;
}

export async function heal(repo: Repository, lock: Lock, opts: HealOptions = {}): Promise<HealResult> {
  const sink = new PackSink(repo);
  try {
    return await healInto(sink, repo, lock, opts);
  } catch (err) {
    await sink.discard(); // the open packs' temporary files
    throw err;
  }
}

async function healInto(sink: PackSink, repo: Repository, lock: Lock, opts: HealOptions): Promise<HealResult> {
  const { twin, signal } = opts;
  await repo.loadIndex();
  await twin?.loadIndex();
  const table = new PackTable(repo.index);
  const onDevice = new Set<string>();
  for await (const name of repo.backend.listNames('data')) onDevice.add(name);
  const retired = new Set((await damagedPacks(repo, opts.now)).filter((id) => table.has(id)));
  for (const id of table.packIds()) if (!onDevice.has(id)) retired.add(id);

  // 1. salvage the intact blobs of retired packs; find second copies of the lost ones here
  const packs = await salvagePacks(repo, table, [...retired], sink, signal);
  const extra = await indexSecondCopies(repo, packs, retired);
  const lostHere = new Set(packs.flatMap((p) => p.lost));
  const isLost = (id: string) => lostHere.has(id) || !repo.index.has(Buffer.from(id, 'hex'));
  /** lost blobs that snapshots reference (only these are sought: a lost blob no snapshot needs is dropped) */
  const lost = new Map<string, LostBlob>();
  const reasons = new Map<string, string>();

  // 2. walk every snapshot for referenced blobs that are lost; a lost tree is read from the twin to go on
  const trees = new Set<string>();
  const walk = async (treeId: string, path: Buffer): Promise<void> => {
    if (trees.has(treeId)) return;
    trees.add(treeId);
    signal?.throwIfAborted();
    let nodes: Node[] | undefined;
    if (isLost(treeId)) lost.set(treeId, lost.get(treeId) ?? { type: 1, files: [] });
    else nodes = await repo.loadTree(treeId).catch(damage);
    if (!nodes && twin?.lookup(treeId)) nodes = await twin.loadTree(treeId).catch(damage);
    if (!nodes) {
      reasons.set(treeId, reasons.get(treeId) ?? 'the tree cannot be read here or in the twin: the files below it are not known');
      return;
    }
    for (const node of nodes) {
      const p = Buffer.concat([path, Buffer.from('/'), node.name]);
      if (node.type === 'dir' && node.subtree) await walk(node.subtree, p);
      if (node.type !== 'file') continue;
      for (const id of node.content ?? []) {
        if (!isLost(id)) continue;
        const l = lost.get(id) ?? lost.set(id, { type: 0, files: [] }).get(id)!;
        if (l.files.length < PATHS_PER_BLOB) l.files.push(p);
      }
    }
  };
  const snapshots = await repo.snapshots.list((file, err) => opts.onWarning?.(file, `${err.message} (not walked)`));
  for (const s of snapshots) await walk(s.snapshot.tree, Buffer.alloc(0));
  const unreferenced = [...lostHere].filter((id) => !lost.has(id));
  const files = new Map([...lost].map(([id, l]) => [id, l.files.map((f) => f.toString())]));
  const type = new Map([...lost].map(([id, l]) => [id, l.type]));

  // 3. from the twin: grouped by the twin's packs, coalesced, verified there, re-sealed here
  const result: HealResult = { packs, healed: [], notHealed: [], unreferenced, newPacks: 0, snapshots: snapshots.length };
  if (twin) {
    const byPack = new Map<string, BlobRef[]>();
    for (const id of lost.keys()) {
      const found = twin.lookup(id);
      if (!found) {
        reasons.set(id, 'not in the twin');
        continue;
      }
      const { loc, packId } = found;
      (byPack.get(packId) ?? byPack.set(packId, []).get(packId)!).push({ id: Buffer.from(id, 'hex'), ...loc });
    }
    await transferBlobs(twin, repo, byPack, {
      signal,
      onDamage: (id, err) => reasons.set(id, `damaged in the twin too: ${err.message}`),
      onBlob: async (b) => {
        await sink.add(b, b.sealed);
        const id = b.id.toString('hex');
        lost.delete(id);
        result.healed.push({ blob: id, type: b.type, from: 'twin' });
      },
    });
  }
  // 4. from the live files
  if (opts.fromSource && lost.size) {
    for (const h of await healFromSource(repo, lost, sink, signal, opts.onWarning)) result.healed.push({ ...h, type: 0, from: 'source' });
    for (const [id, l] of lost) if (l.type === 0 && l.files.length) reasons.set(id, `${reasons.has(id) ? `${reasons.get(id)}; ` : ''}no source file holds it any more`);
  }
  await sink.flush();
  result.newPacks = sink.packs.length;

  // 5. commit: a new index (retiring damaged packs), or just one more index file for the healed blobs
  if (retired.size) await commitRepair(repo, lock, table, retired, sink.packs, extra);
  else if (sink.packs.length) {
    const w = new IndexFileWriter(repo);
    for (const p of sink.packs) await w.addPack(p);
    await w.finish([]);
  }
  for (const [id] of lost) {
    const why = reasons.get(id) ?? (twin ? 'not in the twin' : opts.fromSource ? 'no source file holds it' : 'no twin and no source given');
    result.notHealed.push({ blob: id, type: type.get(id) ?? 0, reason: why, files: files.get(id) ?? [] });
  }
  for (const [id, why] of reasons) if (!type.has(id)) result.notHealed.push({ blob: id, type: 1, reason: why, files: [] });
  return result;
}

function damage(err: unknown): undefined {
  if (err instanceof FlashbackError && err.code === 'ERR_DAMAGED') return undefined;
  throw err;
}
