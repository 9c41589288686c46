/**
 * Main-thread side of the chunk workers: dispatches file tasks (a few per worker so none idles), hands each
 * result chunk to the caller in order, and returns the credit the worker spent once the chunk is consumed.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { META_FIELDS, M_COMPRESSION, M_OFFSET, M_RAW, M_SEALED, M_TASK, type FileTask, type TaskMessage, type WorkerInit, type WorkerMessage } from './chunk-protocol.js';
import type { SharedBlobIndexState } from '../index/blob-index.js';
import type { Repository } from '../repository/repository.js';

export interface ChunkResult {
  id: Buffer;
  sealed?: Buffer;
  compression: 0 | 1;
  rawLength: number;
}

export interface FileResult {
  bytes: number;
  changed?: string;
  error?: { code: string; message: string };
}

/** Takes one chunk; returns a promise only when the caller must wait before the next (no promise per chunk). */
export type OnChunk = (c: ChunkResult) => Promise<unknown> | void;

interface Pending {
  onChunk: OnChunk;
  resolve: (r: FileResult) => void;
  reject: (e: unknown) => void;
}

/** Files queued per worker: enough that a worker never waits for the main thread between small files. */
const TASKS_PER_WORKER = 64;
/** Files sent in one message (the worker answers a message with one batch of results). */
const TASKS_PER_MESSAGE = 16;
/** A worker with fewer files than this queued gets whatever is waiting, even less than a full message. */
const LOW_WATER = 8;
const CREDIT_LIMIT = 8 * 1024 * 1024;

export class ChunkPool {
  private workers: Worker[] = [];
  private inflight: number[] = [];
  private chains: Promise<void>[] = [];
  private pending = new Map<number, Pending>();
  private queue: { t: FileTask; p: Pending }[] = [];
  private waiters: (() => void)[] = [];
  private nextTask = 1;
  private credit: Int32Array;
  private failed: unknown;
  private flushScheduled = false;

  private readonly sab: SharedArrayBuffer;

  constructor(
    private readonly repo: Repository,
    private readonly index: SharedBlobIndexState,
    private readonly threads = Math.max(1, Math.min(availableParallelism(), 8)),
  ) {
    this.sab = new SharedArrayBuffer(4 * threads);
    this.credit = new Int32Array(this.sab);
  }

  /** Workers start on the first file to read: a backup where nothing changed never pays for them. */
  private start(): void {
    const { repo, index, sab, threads } = this;
    for (let slot = 0; slot < threads; slot++) {
      const init: WorkerInit = {
        slot,
        encKey: repo.keys.encKey,
        idKey: repo.idKey,
        chunkerKey: repo.keys.chunkerKey,
        chunker: repo.config.chunker,
        level: repo.config.compression.level,
        index,
        credit: sab,
        creditLimit: CREDIT_LIMIT,
      };
      const w = new Worker(new URL('./chunk-worker.js', import.meta.url), { workerData: init });
      w.on('message', (m: WorkerMessage) => this.onMessage(slot, m));
      w.on('error', (err) => this.fail(err));
      w.unref();
      this.workers.push(w);
      this.inflight.push(0);
      this.chains.push(Promise.resolve());
    }
  }

  /**
   * Nothing when the queue has room for one more file, else a promise that resolves once it has (the walker
   * waits here: bounded memory). Throws, or rejects, once the pool has failed.
   */
  room(): Promise<void> | undefined {
    if (this.workers.length === 0) this.start();
    if (this.failed) throw this.failed;
    if (this.queue.length < this.workers.length * TASKS_PER_WORKER) return undefined;
    return (async () => {
      while (this.queue.length >= this.workers.length * TASKS_PER_WORKER) await new Promise<void>((r) => this.waiters.push(r));
      if (this.failed) throw this.failed;
    })();
  }

  /** Queues a file (after waiting for room); resolves when every chunk was handed to onChunk. */
  submit(t: Omit<FileTask, 'task'>, onChunk: OnChunk): Promise<FileResult> {
    let room: Promise<void> | undefined;
    try {
      room = this.room();
    } catch (err) {
      return Promise.reject(err);
    }
    return room ? room.then(() => this.enqueue(t, onChunk)) : this.enqueue(t, onChunk);
  }

  private enqueue(t: Omit<FileTask, 'task'>, onChunk: OnChunk): Promise<FileResult> {
    let p!: Pending;
    const done = new Promise<FileResult>((resolve, reject) => (p = { onChunk, resolve, reject }));
    this.queue.push({ t: { ...t, task: this.nextTask++ }, p });
    this.dispatch();
    return done;
  }

  /**
   * Sends queued files to the least busy worker, in messages of TASKS_PER_MESSAGE files; a partial message only
   * to a worker running low, or once the walker pauses (`force`, from setImmediate): one message per file
   * would cost more than reading a small file.
   */
  private dispatch(force = false): void {
    while (this.queue.length) {
      let best = 0;
      for (let i = 1; i < this.workers.length; i++) if (this.inflight[i] < this.inflight[best]) best = i;
      const room = Math.min(TASKS_PER_WORKER - this.inflight[best], TASKS_PER_MESSAGE, this.queue.length);
      if (room <= 0) return;
      if (room < TASKS_PER_MESSAGE && this.inflight[best] >= LOW_WATER && !force) {
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => {
            this.flushScheduled = false;
            this.dispatch(true);
          });
        }
        return;
      }
      const batch = this.queue.splice(0, room);
      const ends = new Uint32Array(batch.length);
      let size = 0;
      for (const [i, { t }] of batch.entries()) ends[i] = size += t.path.length;
      const paths = new Uint8Array(size);
      const tasks: TaskMessage['tasks'] = [];
      for (const [i, { t, p }] of batch.entries()) {
        this.pending.set(t.task, p);
        paths.set(t.path, i ? ends[i - 1] : 0);
        tasks.push({ task: t.task, size: t.size, mtime: t.mtime, ctime: t.ctime, follow: t.follow });
      }
      this.inflight[best] += tasks.length;
      this.workers[best].postMessage({ tasks, paths, ends } satisfies TaskMessage, [paths.buffer, ends.buffer]);
      for (const w of this.waiters.splice(0, room)) w();
    }
  }

  private onMessage(slot: number, m: WorkerMessage): void {
    // Messages of one worker are handled strictly in order: a file's content list is the order of its chunks.
    this.chains[slot] = this.chains[slot].then(() => this.handle(slot, m)).catch((err) => this.fail(err));
  }

  private async handle(slot: number, m: WorkerMessage): Promise<void> {
    const { meta } = m;
    const count = meta.length / META_FIELDS;
    for (let i = 0; i < count; i++) {
      const f = i * META_FIELDS;
      const p = this.pending.get(meta[f + M_TASK]);
      const offset = meta[f + M_OFFSET];
      const sealed = offset >= 0 ? Buffer.from(m.data, offset, meta[f + M_SEALED]) : undefined;
      try {
        const wait = p?.onChunk({ id: Buffer.from(m.ids, 32 * i, 32), sealed, compression: meta[f + M_COMPRESSION] as 0 | 1, rawLength: meta[f + M_RAW] });
        if (wait) await wait;
      } finally {
        if (sealed) {
          Atomics.sub(this.credit, slot, sealed.length);
          Atomics.notify(this.credit, slot);
        }
      }
    }
    for (const r of m.files) {
      const p = this.pending.get(r.task);
      if (!p) continue;
      this.pending.delete(r.task);
      this.inflight[slot]--;
      if (r.error) p.resolve({ bytes: 0, error: r.error });
      else p.resolve({ bytes: r.bytes, changed: r.changed });
    }
    if (m.files.length) this.dispatch();
  }

  /** Fails every queued and running file with `err` (e.g. on Ctrl-C); blobs already handed over stay valid. */
  abort(err: unknown): void {
    this.fail(err);
  }

  private fail(err: unknown): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const q of this.queue) q.p.reject(err);
    this.queue = [];
    for (const w of this.waiters.splice(0)) w();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
