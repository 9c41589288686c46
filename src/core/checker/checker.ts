/**
 * check: structure (index ↔ packs, every snapshot's trees and blobs present and consistent) and, with readData,
 * a scrub: selected packs read whole, least recently verified first (design.md §13): name = SHA-256 of the
 * bytes, header matches the index, and every blob opened, decompressed and checked against its id. What was
 * verified is remembered in a scrub record, also when the run stops early (budget spent, aborted). Damage is
 * reported precisely: pack, blobs, and the snapshots and files they belong to.
 */
import { errorMessage } from '../errors/errors.js';
import type { Node } from '../model/node.js';
import type { SnapshotRef } from '../model/snapshot.js';
import type { Repository } from '../repository/repository.js';
import {
  CONSOLIDATE_ABOVE,
  consolidateScrubRecords,
  loadScrubState,
  mergeVerification,
  saveScrubRecord,
  type PackVerification,
  type ScrubState,
  type ScrubWarning,
} from '../repository/scrub-records.js';
import { BlobWorkerPool, transferable } from '../blobwork/pool.js';
import type { RestoreReply, ScannedTree } from '../blobwork/worker.js';
import { PackTable, type PackBlob } from '../index/pack-table.js';
import { coverage, scrubOrder, type Coverage } from './scrub-plan.js';

export interface CheckOptions {
  readData?: boolean;
  /** fraction (0..1] of the packs to read: the least recently verified ones */
  subset?: number;
  /** stop starting to read new packs once this many bytes of packs were started (at least one pack is read) */
  maxBytes?: number;
  /** stop starting to read new packs after this many milliseconds of reading (at least one pack is read) */
  maxDuration?: number;
  /** the clock, in milliseconds since 1970 (Date.now by default): verification times and the duration budget */
  now?: () => number;
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

/** Scrub coverage after this run, and what this run recorded. */
export interface ScrubSummary extends Coverage {
  /** the record this run wrote (undefined when it read nothing or could not write) */
  record?: string;
  /** why the read stopped before the end of the selection */
  stopped?: 'budget' | 'interrupted';
  consolidated?: { record: string; removed: number; dropped: number };
  /** ignored records, verifications dated in the future, a record that could not be written */
  warnings: ScrubWarning[];
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
  scrub: ScrubSummary;
  /** aborted: the scrub stopped early, and the snapshots were walked only to name damaged files */
  interrupted: boolean;
}

const packFile = (packId: string) => `data/${packId.slice(0, 2)}/${packId}`;

export class Checker {
  readonly state: CheckState = { packs: 0, totalPacks: 0, bytes: 0, totalBytes: 0, snapshots: 0 };
  private problems: Problem[] = [];
  private damaged = new Set<string>();
  /** trees the scrub opened, decoded and checked against the index (blobwork/worker.ts), by id */
  private scanned = new Map<string, Pick<ScannedTree, 'dirs' | 'missing'>>();
  private readonly now: () => number;

  constructor(
    private readonly repo: Repository,
    private readonly opts: CheckOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  private problem(p: Problem): void {
    this.problems.push(p);
    for (const b of p.blobs ?? []) this.damaged.add(b);
  }

  async run(): Promise<CheckResult> {
    const repo = this.repo;
    await repo.loadIndex((file, err) => this.problem({ kind: 'index', file, message: errorMessage(err) }));
    const table = new PackTable(repo.index);
    // the scrub's workers start up while the packs are listed
    const pool = this.opts.readData ? new BlobWorkerPool({ encKey: repo.keys.encKey, idKey: repo.idKey }, { index: repo.index.share(), depth: 1 }) : undefined;
    try {
      return await this.checkWith(table, pool);
    } finally {
      await pool?.close();
    }
  }

  private async checkWith(table: PackTable, pool: BlobWorkerPool | undefined): Promise<CheckResult> {
    const repo = this.repo;
    const onDevice = new Map<string, number>();
    for await (const f of repo.backend.list('data')) onDevice.set(f.name, f.size);
    const orphanPacks = [...onDevice.keys()].filter((p) => !table.has(p));
    const present = new Map<string, number>();
    for (const packId of table.packIds()) {
      const size = onDevice.get(packId);
      const file = packFile(packId);
      if (size === undefined) this.problem({ kind: 'pack', file, message: 'pack is missing', blobs: table.blobs(packId).map(hex) });
      else {
        present.set(packId, size);
        if (table.end(packId) > size) {
          const beyond = table.blobs(packId).filter((b) => b.loc.offset + b.loc.length > size);
          this.problem({ kind: 'pack', file, message: `pack is truncated (${size} bytes)`, blobs: beyond.map(hex) });
        }
      }
    }
    const scrub = await loadScrubState(repo, this.now());
    const verified = new Map<string, PackVerification>();
    let read: { packsRead: number; bytesRead: number; stopped?: ScrubSummary['stopped'] } = { packsRead: 0, bytesRead: 0 };
    let persisted: Pick<ScrubSummary, 'record' | 'consolidated'> = {};
    if (pool) {
      let selected = scrubOrder(present.keys(), scrub.packs);
      if (this.opts.subset !== undefined && this.opts.subset < 1) selected = selected.slice(0, Math.max(1, Math.ceil(selected.length * this.opts.subset)));
      try {
        read = await this.scrub(pool, selected, table, present, verified);
        await pool.close(); // its memory is not needed for the walk below (closing twice is harmless)
      } finally {
        // also when reading failed half-way: what was verified is remembered
        persisted = await this.persist(scrub, verified, (p) => table.has(p) || onDevice.has(p));
      }
    }
    const interrupted = read.stopped === 'interrupted';
    const snapshots = await repo.snapshots.list((file, err) => this.problem({ kind: 'snapshot', file, message: errorMessage(err) }));
    const affected: Affected[] = [];
    const trees = new Map<string, boolean>();
    // interrupted: walk the snapshots only to name the files that damage found so far belongs to
    if (!interrupted || this.damaged.size) {
      for (const s of snapshots) {
        this.state.snapshots++;
        await this.walkTree(s, s.snapshot.tree, '', trees, affected);
      }
    }
    return {
      problems: this.problems,
      affected,
      orphanPacks,
      snapshots: snapshots.length,
      packs: table.packIds().length,
      blobs: repo.index.size,
      packsRead: read.packsRead,
      bytesRead: read.bytesRead,
      scrub: { ...coverage(present, scrub.packs), ...persisted, stopped: read.stopped, warnings: scrub.warnings },
      interrupted,
    };
  }

  /**
   * Reads `selected` in order, a few packs at once, until the end, the budget or an abort; packs already being
   * read are finished. Each verified pack goes into `verified` with the time its verification finished.
   */
  private async scrub(
    pool: BlobWorkerPool,
    selected: string[],
    table: PackTable,
    sizes: Map<string, number>,
    verified: Map<string, PackVerification>,
  ): Promise<{ packsRead: number; bytesRead: number; stopped?: 'budget' | 'interrupted' }> {
    const { maxBytes, maxDuration, signal } = this.opts;
    const total = selected.reduce((s, p) => s + (sizes.get(p) ?? 0), 0);
    this.state.totalPacks = selected.length;
    this.state.totalBytes = maxBytes === undefined ? total : Math.min(total, maxBytes);
    let packsRead = 0;
    let bytesRead = 0;
    let started = 0;
    let startedBytes = 0;
    let stopped: 'budget' | 'interrupted' | undefined;
    const t0 = this.now();
    const inflight = new Set<Promise<void>>();
    try {
      for (const packId of selected) {
        while (inflight.size >= pool.size) await Promise.race(inflight);
        if (signal?.aborted) {
          stopped = 'interrupted';
          break;
        }
        if (started > 0 && ((maxBytes !== undefined && startedBytes >= maxBytes) || (maxDuration !== undefined && this.now() - t0 >= maxDuration))) {
          stopped = 'budget';
          break;
        }
        const size = sizes.get(packId) ?? 0;
        started++;
        startedBytes += size;
        const p: Promise<void> = this.readPack(pool, packId, table.blobs(packId), size).then((damage) => {
          inflight.delete(p);
          verified.set(packId, damage ? { time: this.now(), verdict: 'damaged', blobs: damage } : { time: this.now(), verdict: 'ok' });
          packsRead++;
          bytesRead += size;
          this.state.packs++;
          this.state.bytes += size;
        });
        inflight.add(p);
      }
      await Promise.all(inflight);
    } finally {
      await Promise.allSettled(inflight);
    }
    return { packsRead, bytesRead, stopped };
  }

  /**
   * Writes this run's record and merges it into `scrub`; consolidates when there are too many records. A
   * repository that cannot be written (read-only device) only loses the memory of this run: a warning.
   */
  private async persist(
    scrub: ScrubState,
    verified: Map<string, PackVerification>,
    exists: (packId: string) => boolean,
  ): Promise<Pick<ScrubSummary, 'record' | 'consolidated'>> {
    if (!verified.size) return {};
    let record: string;
    try {
      record = await saveScrubRecord(this.repo, verified, this.now());
    } catch (err) {
      scrub.warnings.push({ file: 'scrub/', message: `cannot write the scrub record (${errorMessage(err)}); what this run verified will be verified again next time` });
      return {};
    }
    for (const [id, v] of verified) mergeVerification(scrub.packs, id, v);
    if (scrub.records.length + scrub.ignored.length + 1 <= CONSOLIDATE_ABOVE) return { record };
    try {
      const consolidated = await consolidateScrubRecords(this.repo, scrub.packs, [...scrub.records, ...scrub.ignored, record], exists, this.now());
      for (const id of [...scrub.packs.keys()]) if (!exists(id)) scrub.packs.delete(id);
      return { record, consolidated };
    } catch (err) {
      scrub.warnings.push({ file: 'scrub/', message: `cannot consolidate the scrub records (${errorMessage(err)}); they stay as they are` });
      return { record };
    }
  }

  /**
   * Has the workers verify one pack, a slice of its blobs each, so that both cores verify to the end: the worker
   * with the first slice also hashes the whole pack and opens its header, checked here against the index. A
   * pack that is a plain local file is read by the workers themselves; otherwise it is loaded here and handed
   * to one worker. Returns the damaged blob ids when anything about the pack is damaged (an empty list when the
   * damage names no blob), otherwise undefined.
   */
  private async readPack(pool: BlobWorkerPool, packId: string, blobs: PackBlob[], size: number): Promise<string[] | undefined> {
    const file = packFile(packId);
    const before = this.problems.length;
    const found = () => {
      // other packs read at the same time report too: keep this pack's problems
      const mine = this.problems.slice(before).filter((p) => p.file === file);
      return mine.length ? [...new Set(mine.flatMap((p) => p.blobs ?? []))] : undefined;
    };
    const inRange = blobs.filter((b) => b.loc.offset + b.loc.length <= size);
    const job = (slice: PackBlob[]) => slice.map((b) => ({ ...b.loc, id: b.id }));
    const path = this.repo.backend.localPath?.('data', packId);
    let slices: PackBlob[][];
    let replies: RestoreReply[];
    if (path !== undefined) {
      slices = sliceByWork(inRange, pool.size);
      replies = await Promise.all(slices.map((slice, k) => pool.call({ kind: 'verify', packId, path, whole: k === 0, blobs: job(slice) })));
    } else {
      let bytes: Buffer;
      try {
        bytes = await this.repo.backend.load('data', packId);
      } catch (err) {
        this.problem({ kind: 'pack', file, message: `cannot read: ${errorMessage(err)}`, blobs: blobs.map(hex) });
        return found();
      }
      const ab = transferable(bytes);
      slices = [inRange.filter((b) => b.loc.offset + b.loc.length <= bytes.length)];
      replies = [await pool.call({ kind: 'verify', packId, bytes: new Uint8Array(ab), whole: true, blobs: job(slices[0]) }, [ab])];
    }
    const unreadable = replies.find((r) => r.readError !== undefined);
    if (unreadable) {
      this.problem({ kind: 'pack', file, message: `cannot read: ${unreadable.readError}`, blobs: blobs.map(hex) });
      return found();
    }
    const { sha256, header } = replies[0];
    if (header && 'error' in header) this.problem({ kind: 'pack', file, message: header.error });
    else if (header) {
      const inHeader = new Set<string>();
      for (let i = 0; i < header.ids.length; i += 32) inHeader.add(Buffer.from(header.ids.buffer, header.ids.byteOffset + i, 32).toString('latin1'));
      const missing = blobs.filter((b) => !inHeader.has(b.id.toString('latin1')));
      if (missing.length) this.problem({ kind: 'pack', file, message: `header lacks ${missing.length} blob(s) the index lists`, blobs: missing.map(hex) });
    }
    if (sha256 !== packId) this.problem({ kind: 'pack', file, message: 'content does not match its name (bit rot or tampering)' });
    const bad: string[] = [];
    replies.forEach((reply, k) => {
      for (const t of reply.trees ?? []) this.scanned.set(hex(slices[k][t.job]), t);
      for (const r of reply.results) if (r.error !== undefined) bad.push(hex(slices[k][r.job]));
    });
    if (bad.length) this.problem({ kind: 'blob', file, message: `${bad.length} of ${blobs.length} blob(s) damaged`, blobs: bad });
    return found();
  }

  private async walkTree(s: SnapshotRef, treeId: string, path: string, trees: Map<string, boolean>, affected: Affected[]): Promise<void> {
    const seen = trees.get(treeId);
    // walked before, clean or reported: once is enough, unless damaged blobs must be mapped to files
    if (seen !== undefined && !this.damaged.size) return;
    const scanned = this.damaged.size ? undefined : this.scanned.get(treeId);
    if (scanned) {
      // the scrub already decoded this tree and looked up its files' blobs: only its subdirectories are left
      trees.set(treeId, true);
      for (const [name, id] of scanned.missing) {
        const p = `${path}/${name}`;
        this.problem({ kind: 'blob', file: `blob ${id}`, message: `missing from the index (snapshot ${s.id.slice(0, 8)}, ${p})`, blobs: [id] });
        affected.push({ snapshot: s.id, path: p, blob: id });
      }
      for (const [name, sub] of scanned.dirs) await this.walkTree(s, sub, `${path}/${name}`, trees, affected);
      return;
    }
    let nodes: Node[];
    try {
      nodes = await this.repo.loadTree(treeId);
    } catch (err) {
      if (seen === undefined) this.problem({ kind: 'tree', file: `tree ${treeId}`, message: `${errorMessage(err)} (in snapshot ${s.id.slice(0, 8)} at ${path || '/'})`, blobs: [treeId] });
      trees.set(treeId, false);
      affected.push({ snapshot: s.id, path: path || '/', blob: treeId });
      return;
    }
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

/**
 * Splits a pack's blobs into `n` runs, in pack order, of about equal work. Opening a blob costs by its plain
 * bytes (decompressing, hashing) plus its stored bytes (decrypting); the first run also hashes the whole pack,
 * which costs about as much per stored byte, so it gets that much less blob work.
 */
export function sliceByWork(blobs: PackBlob[], n: number): PackBlob[][] {
  const sorted = [...blobs].sort((a, b) => a.loc.offset - b.loc.offset);
  if (n <= 1) return [sorted];
  // a tree is also decoded and its files' blobs looked up: about 8 times the work per byte (measured)
  const work = (b: PackBlob) => b.loc.rawLength * (b.loc.type === 1 ? 8 : 1) + b.loc.length;
  const hashing = sorted.reduce((s, b) => s + b.loc.length, 0);
  const total = sorted.reduce((s, b) => s + work(b), hashing);
  const slices: PackBlob[][] = [];
  let i = 0;
  let done = hashing;
  for (let k = 1; k <= n; k++) {
    const start = i;
    const target = k === n ? Infinity : (total * k) / n;
    while (i < sorted.length && done + work(sorted[i]) / 2 <= target) done += work(sorted[i++]);
    if (k === 1 || i > start) slices.push(sorted.slice(start, i));
  }
  return slices;
}

function hex(b: PackBlob): string {
  return b.id.toString('hex');
}
