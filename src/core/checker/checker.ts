/**
 * check: structure (index ↔ packs, every snapshot's trees and blobs present and consistent) and, with readData,
 * every selected pack read whole: name = SHA-256 of the bytes, header matches the index, and every blob opened,
 * decompressed and checked against its id. Damage is reported precisely: pack, blobs, and the snapshots and
 * files they belong to.
 */
import { errorMessage } from '../errors/errors.js';
import type { BlobLocation } from '../index/blob-index.js';
import type { Node } from '../model/node.js';
import type { SnapshotRef } from '../model/snapshot.js';
import { parsePackHeader } from '../pack/format.js';
import type { Repository } from '../repository/repository.js';
import { BlobWorkerPool } from '../blobwork/pool.js';

export interface CheckOptions {
  readData?: boolean;
  /** fraction (0..1] of the packs to read; chosen at random */
  subset?: number;
  signal?: AbortSignal;
}

export interface Problem {
  kind: 'index' | 'pack' | 'snapshot' | 'tree' | 'blob';
  file: string;
  message: string;
  blobs?: string[];
}

export interface Affected {
  snapshot: string;
  path: string;
  blob: string;
}

export interface CheckState {
  packs: number;
  totalPacks: number;
  bytes: number;
  totalBytes: number;
  snapshots: number;
}

export interface CheckResult {
  problems: Problem[];
  affected: Affected[];
  orphanPacks: string[];
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  bytesRead: number;
}

export class Checker {
  readonly state: CheckState = { packs: 0, totalPacks: 0, bytes: 0, totalBytes: 0, snapshots: 0 };
  private problems: Problem[] = [];
  private damaged = new Set<string>();

  constructor(
    private readonly repo: Repository,
    private readonly opts: CheckOptions = {},
  ) {}

  private problem(p: Problem): void {
    this.problems.push(p);
    for (const b of p.blobs ?? []) this.damaged.add(b);
  }

  async run(): Promise<CheckResult> {
    const repo = this.repo;
    await repo.loadIndex((file, err) => this.problem({ kind: 'index', file, message: errorMessage(err) }));
    const byPack = this.entriesByPack();
    const onDevice = new Map<string, number>();
    for await (const f of repo.backend.list('data')) onDevice.set(f.name, f.size);
    const orphanPacks = [...onDevice.keys()].filter((p) => !byPack.has(p));
    for (const [packId, entries] of byPack) {
      const size = onDevice.get(packId);
      const file = `data/${packId.slice(0, 2)}/${packId}`;
      if (size === undefined) this.problem({ kind: 'pack', file, message: 'pack is missing', blobs: entries.map((e) => e.id) });
      else {
        const beyond = entries.filter((e) => e.loc.offset + e.loc.length > size);
        if (beyond.length) this.problem({ kind: 'pack', file, message: `pack is truncated (${size} bytes)`, blobs: beyond.map((e) => e.id) });
      }
    }
    let packsRead = 0;
    let bytesRead = 0;
    if (this.opts.readData) {
      let selected = [...byPack.keys()].filter((p) => onDevice.has(p));
      if (this.opts.subset !== undefined && this.opts.subset < 1) {
        const want = Math.max(1, Math.ceil(selected.length * this.opts.subset));
        selected = shuffle(selected).slice(0, want);
      }
      this.state.totalPacks = selected.length;
      this.state.totalBytes = selected.reduce((s, p) => s + (onDevice.get(p) ?? 0), 0);
      const pool = new BlobWorkerPool(repo.keys);
      const inflight = new Set<Promise<void>>();
      try {
        for (const packId of selected) {
          if (this.opts.signal?.aborted) break;
          while (inflight.size >= pool.size) await Promise.race(inflight);
          const p: Promise<void> = this.readPack(pool, packId, byPack.get(packId)!).then(() => {
            inflight.delete(p);
            packsRead++;
            bytesRead += onDevice.get(packId) ?? 0;
            this.state.packs++;
            this.state.bytes += onDevice.get(packId) ?? 0;
          });
          inflight.add(p);
        }
        await Promise.all(inflight);
      } finally {
        await pool.close();
      }
    }
    const snapshots = await repo.snapshots.list((file, err) => this.problem({ kind: 'snapshot', file, message: errorMessage(err) }));
    const affected: Affected[] = [];
    const trees = new Map<string, boolean>();
    for (const s of snapshots) {
      this.state.snapshots++;
      await this.walkTree(s, s.snapshot.tree, '', trees, affected);
    }
    return { problems: this.problems, affected, orphanPacks, snapshots: snapshots.length, packs: byPack.size, blobs: repo.index.size, packsRead, bytesRead };
  }

  private entriesByPack(): Map<string, { id: string; loc: BlobLocation }[]> {
    const m = new Map<string, { id: string; loc: BlobLocation }[]>();
    for (const { id, loc } of this.repo.index.entries()) {
      const p = this.repo.index.packId(loc.pack);
      let l = m.get(p);
      if (!l) m.set(p, (l = []));
      l.push({ id: id.toString('hex'), loc });
    }
    return m;
  }

  /**
   * Reads one pack whole and has a worker hash it and open every blob, while the main thread reads the next
   * one: both cores verify. The header is checked here against the index.
   */
  private async readPack(pool: BlobWorkerPool, packId: string, entries: { id: string; loc: BlobLocation }[]): Promise<void> {
    const file = `data/${packId.slice(0, 2)}/${packId}`;
    let bytes: Buffer;
    try {
      bytes = await this.repo.backend.load('data', packId);
    } catch (err) {
      this.problem({ kind: 'pack', file, message: `cannot read: ${errorMessage(err)}`, blobs: entries.map((e) => e.id) });
      return;
    }
    try {
      const h = parsePackHeader(this.repo.keys.encKey, bytes, bytes.length, packId);
      if ('entries' in h) {
        const inHeader = new Set(h.entries.map((e) => e.id.toString('hex')));
        const missing = entries.filter((e) => !inHeader.has(e.id));
        if (missing.length) this.problem({ kind: 'pack', file, message: `header lacks ${missing.length} blob(s) the index lists`, blobs: missing.map((e) => e.id) });
      }
    } catch (err) {
      this.problem({ kind: 'pack', file, message: errorMessage(err) });
    }
    const inRange = entries.filter((e) => e.loc.offset + e.loc.length <= bytes.length);
    const own = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
    const ab = (own ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) as ArrayBuffer;
    const reply = await pool.call(
      { kind: 'verify', packId, bytes: new Uint8Array(ab), blobs: inRange.map((e) => ({ ...e.loc, id: Buffer.from(e.id, 'hex') })) },
      [ab],
    );
    if (reply.sha256 !== packId) this.problem({ kind: 'pack', file, message: 'content does not match its name (bit rot or tampering)' });
    const bad = reply.results.filter((r) => r.error !== undefined).map((r) => inRange[r.job].id);
    if (bad.length) this.problem({ kind: 'blob', file, message: `${bad.length} of ${entries.length} blob(s) damaged`, blobs: bad });
  }

  private async walkTree(s: SnapshotRef, treeId: string, path: string, trees: Map<string, boolean>, affected: Affected[]): Promise<void> {
    const seen = trees.get(treeId);
    if (seen === false && !this.damaged.size) return;
    let nodes: Node[];
    try {
      nodes = await this.repo.loadTree(treeId);
    } catch (err) {
      if (seen === undefined) this.problem({ kind: 'tree', file: `tree ${treeId}`, message: `${errorMessage(err)} (in snapshot ${s.id.slice(0, 8)} at ${path || '/'})`, blobs: [treeId] });
      trees.set(treeId, false);
      affected.push({ snapshot: s.id, path: path || '/', blob: treeId });
      return;
    }
    // a tree already walked and clean needs no second walk unless damaged blobs must be mapped to files
    if (seen === true && !this.damaged.size) return;
    trees.set(treeId, true);
    for (const n of nodes) {
      const p = `${path}/${n.name.toString()}`;
      if (n.type === 'dir' && n.subtree) await this.walkTree(s, n.subtree, p, trees, affected);
      for (const id of n.content ?? []) {
        if (this.damaged.has(id)) affected.push({ snapshot: s.id, path: p, blob: id });
        else if (!this.repo.index.has(Buffer.from(id, 'hex'))) {
          this.problem({ kind: 'blob', file: `blob ${id}`, message: `missing from the index (snapshot ${s.id.slice(0, 8)}, ${p})`, blobs: [id] });
          affected.push({ snapshot: s.id, path: p, blob: id });
        }
      }
    }
  }
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
