/**
 * Fills the restored files, one batch of files at a time (the restorer walks the plan in bounded batches):
 * the packs a batch needs are read once each, in slices of bounded size, and handed to the restore workers,
 * which verify the blobs and write them in place; a file is finished (size, metadata) by a worker once its
 * last blob is written: a file of one blob (most files) in the same step, through the descriptor it was
 * written with, others by a finish request. The workers read local packs themselves; the main thread reads
 * the packs of other backends, and keeps count.
 *
 * Memory: the jobs of the batches not yet finished, and at most `pool.size * 2` requests in flight (each at most
 * 8 MiB sealed, 16 MiB plain). A blob shared by files of two batches is read twice.
 */
import type { BlobLocation } from '../index/blob-index.js';
import type { Node } from '../model/node.js';
import type { Repository } from '../repository/repository.js';
import { errorMessage } from '../errors/errors.js';
import { transferable, type BlobWorkerPool } from '../blobwork/pool.js';
import type { FinishTarget, RestoreReply } from '../blobwork/worker.js';
import type { FileMeta } from '../fs/meta.js';
import { encodeWritePlan } from '../blobwork/write-plan.js';

export interface FileJob {
  index: number;
  path: Buffer;
  node: Node;
  remaining: number;
  failed: boolean;
  /** end of the last byte written */
  end: number;
}

export interface FillEvents {
  sparse: boolean;
  owner: boolean;
  aborted: () => boolean;
  fail: (job: FileJob, message: string) => void;
  warn: (job: FileJob, message: string) => void;
  /** a file is complete (content and metadata) */
  done: (job: FileJob) => void;
  bytes: (n: number) => void;
}

interface Blob {
  id: string;
  loc: BlobLocation;
  targets: { job: FileJob; pos: number }[];
}

const SLICE_RAW = 16 * 1024 * 1024;
const SLICE_SEALED = 8 * 1024 * 1024;
const FINISH_BATCH = 256;

export class Filler {
  private inflight = new Set<Promise<void>>();
  private finishQueue: FinishTarget[] = [];
  /** jobs added and not finished yet, by index */
  private live = new Map<number, FileJob>();

  constructor(
    private readonly repo: Repository,
    private readonly pool: BlobWorkerPool,
    private readonly ev: FillEvents,
  ) {}

  /** Fills a batch of files; resolves once all its reads are dispatched (the workers may still be writing). */
  async add(jobs: FileJob[]): Promise<void> {
    const byPack = new Map<string, Map<string, Blob>>();
    for (const job of jobs) {
      this.live.set(job.index, job);
      let pos = 0;
      for (const id of job.node.content ?? []) {
        const found = this.repo.lookup(id);
        if (!found) {
          this.ev.fail(job, `blob ${id} is missing from the repository`);
          job.remaining--; // the rest of the file is still restored, and the file is finished
          continue;
        }
        let blobs = byPack.get(found.packId);
        if (!blobs) byPack.set(found.packId, (blobs = new Map()));
        let b = blobs.get(id);
        if (!b) blobs.set(id, (b = { id, loc: found.loc, targets: [] }));
        b.targets.push({ job, pos });
        pos += found.loc.rawLength;
      }
      if (job.remaining === 0) this.queueFinish(job, !job.node.content?.length);
    }
    for (const [packId, blobs] of byPack) {
      const ordered = [...blobs.values()].sort((a, b) => a.loc.offset - b.loc.offset);
      for (const slice of slices(ordered)) {
        if (this.ev.aborted()) break;
        while (this.inflight.size >= this.pool.size * 2) await Promise.race(this.inflight);
        await this.dispatch(packId, slice);
      }
    }
  }

  /** Waits for every write, then finishes the remaining files. */
  async close(): Promise<void> {
    while (this.inflight.size) await Promise.race(this.inflight);
    this.flushFinish();
    while (this.inflight.size) await Promise.race(this.inflight);
  }

  private track(p: Promise<void>): void {
    const t: Promise<void> = p.finally(() => this.inflight.delete(t));
    this.inflight.add(t);
  }

  private async dispatch(packId: string, slice: Blob[]): Promise<void> {
    const first = slice[0].loc.offset;
    const last = slice[slice.length - 1].loc;
    const length = last.offset + last.length - first;
    // a local pack is read by the worker itself: no copy of the span here, no event-loop round trip per read
    const path = this.repo.backend.localPath?.('data', packId);
    let bytes: ArrayBuffer | undefined;
    if (path === undefined) {
      try {
        // short when the pack is truncated: the worker fails the blobs beyond the end
        bytes = transferable(await this.repo.backend.load('data', packId, { offset: first, length }));
      } catch (err) {
        for (const b of slice) for (const t of b.targets) this.blobDone(t.job, undefined, errorMessage(err));
        return;
      }
    }
    const targets = slice.flatMap((b) => b.targets.map((t) => ({ ...t, raw: b.loc.rawLength })));
    const plan = encodeWritePlan(
      slice.map((b) => ({
        ...b.loc,
        offset: b.loc.offset - first,
        id: Buffer.from(b.id, 'hex'),
        targets: b.targets.map((t) => ({ job: t.job.index, path: t.job.path, pos: t.pos, finish: finishWith(t.job) })),
      })),
    );
    const source = bytes ? { bytes: new Uint8Array(bytes) } : { path, span: { offset: first, length } };
    const request = this.pool.call({ kind: 'write', packId, ...source, plan, sparse: this.ev.sparse, owner: this.ev.owner }, bytes ? [bytes, plan] : [plan]);
    const failAll = (message: string) => targets.forEach((t) => this.blobDone(t.job, undefined, message));
    this.track(
      request.then(
        ({ written, issues = [] }) => {
          if (!written || written.length !== 3 * targets.length) return failAll('restore worker: the reply does not match the request');
          const byTarget = new Map(issues.map((x) => [x.i, x]));
          for (let i = 0; i < targets.length; i++) {
            const issue = byTarget.get(i);
            const end = written[3 * i + 1];
            if (end >= 0) this.ev.bytes(targets[i].raw);
            if (written[3 * i + 2] === 1) this.finished(targets[i].job, issue?.warnings);
            else this.blobDone(targets[i].job, end >= 0 ? end : undefined, end >= 0 ? undefined : (issue?.error ?? 'write failed'));
          }
        },
        (err) => failAll(errorMessage(err)),
      ),
    );
  }

  private blobDone(job: FileJob, end: number | undefined, error?: string): void {
    if (error !== undefined) this.ev.fail(job, error);
    if (end !== undefined) job.end = Math.max(job.end, end);
    if (--job.remaining === 0) this.queueFinish(job, false);
  }

  /** a file the worker finished with its only write */
  private finished(job: FileJob, warnings: string[] = []): void {
    job.remaining--;
    this.live.delete(job.index);
    for (const w of warnings) this.ev.warn(job, w);
    this.ev.done(job);
  }

  private queueFinish(job: FileJob, create: boolean): void {
    // O_CREAT without O_TRUNC left the file as long as its last written byte: only trailing holes need a truncate
    this.finishQueue.push({ job: job.index, path: job.path, node: job.node, create, truncate: create ? job.node.size > 0 : job.end !== job.node.size });
    if (this.finishQueue.length >= FINISH_BATCH) this.flushFinish();
  }

  private flushFinish(): void {
    if (!this.finishQueue.length) return;
    const files = this.finishQueue;
    this.finishQueue = [];
    this.track(
      this.pool.run({ kind: 'finish', files, owner: this.ev.owner }).then(
        (results: RestoreReply['results']) => {
          for (const r of results) {
            const job = this.live.get(r.job)!;
            this.live.delete(r.job);
            if (r.error !== undefined) this.ev.fail(job, r.error);
            for (const w of r.warnings ?? []) this.ev.warn(job, w);
            this.ev.done(job);
          }
        },
        (err) =>
          files.forEach((f) => {
            this.ev.fail(this.live.get(f.job)!, errorMessage(err));
            this.live.delete(f.job);
          }),
      ),
    );
  }
}

/**
 * The metadata a worker applies right after writing the file's only blob, through the same descriptor; none
 * when the file has more blobs (the last one to land is not known here), or xattrs (set by path, by applyNode).
 */
function finishWith(job: FileJob): (FileMeta & { size: number }) | undefined {
  const n = job.node;
  if (job.remaining !== 1 || n.content?.length !== 1 || n.xattrs?.length) return undefined;
  return { size: n.size, mode: n.mode, uid: n.uid, gid: n.gid, atime: n.atime, mtime: n.mtime };
}

function slices(blobs: Blob[]): Blob[][] {
  const out: Blob[][] = [];
  let cur: Blob[] = [];
  let raw = 0;
  for (const b of blobs) {
    const span = cur.length ? b.loc.offset + b.loc.length - cur[0].loc.offset : 0;
    if (cur.length && (raw + b.loc.rawLength > SLICE_RAW || span > SLICE_SEALED)) {
      out.push(cur);
      cur = [];
      raw = 0;
    }
    cur.push(b);
    raw += b.loc.rawLength;
  }
  if (cur.length) out.push(cur);
  return out;
}
