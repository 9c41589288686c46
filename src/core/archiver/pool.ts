/**
 * Main-thread side of the chunk workers: dispatches file tasks (a few per worker so none idles), hands each
 * result chunk to the caller in order, and returns the credit the worker spent once the chunk is consumed.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { FileTask, WorkerInit, WorkerMessage } from './chunk-worker.js';
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

interface Pending {
  onChunk: (c: ChunkResult) => Promise<void>;
  resolve: (r: FileResult) => void;
  reject: (e: unknown) => void;
}

const TASKS_PER_WORKER = 4;
const CREDIT_LIMIT = 16 * 1024 * 1024;

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
        idKey: repo.keys.idKey,
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

  /** Resolves when the queue has room for one more file (the walker waits here: bounded memory). */
  async room(): Promise<void> {
    if (this.workers.length === 0) this.start();
    while (this.queue.length >= this.workers.length * TASKS_PER_WORKER) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.failed;
  }

  /** Queues a file; resolves when every chunk was handed to onChunk. Waits while the queue is full. */
  async submit(t: Omit<FileTask, 'task'>, onChunk: (c: ChunkResult) => Promise<void>): Promise<Promise<FileResult>> {
    if (this.workers.length === 0) this.start();
    while (this.queue.length >= this.workers.length * TASKS_PER_WORKER) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.failed;
    let p!: Pending;
    const done = new Promise<FileResult>((resolve, reject) => (p = { onChunk, resolve, reject }));
    this.queue.push({ t: { ...t, task: this.nextTask++ }, p });
    this.dispatch();
    return done;
  }

  private dispatch(): void {
    while (this.queue.length) {
      let best = 0;
      for (let i = 1; i < this.workers.length; i++) if (this.inflight[i] < this.inflight[best]) best = i;
      if (this.inflight[best] >= TASKS_PER_WORKER) return;
      const { t, p } = this.queue.shift()!;
      this.pending.set(t.task, p);
      this.inflight[best]++;
      this.workers[best].postMessage(t);
      this.waiters.shift()?.();
    }
  }

  private onMessage(slot: number, m: WorkerMessage): void {
    // Chunks of one worker are handled strictly in order: a file's content list is the order of its chunks.
    this.chains[slot] = this.chains[slot].then(() => this.handle(slot, m)).catch((err) => this.fail(err));
  }

  private async handle(slot: number, m: WorkerMessage): Promise<void> {
    const p = this.pending.get(m.task);
    if (!p) return;
    for (const c of m.chunks) {
      const sealed = c.sealed ? Buffer.from(c.sealed.buffer, c.sealed.byteOffset, c.sealed.length) : undefined;
      try {
        await p.onChunk({ id: Buffer.from(c.id), sealed, compression: c.compression, rawLength: c.rawLength });
      } finally {
        if (sealed) {
          Atomics.sub(this.credit, slot, sealed.length);
          Atomics.notify(this.credit, slot);
        }
      }
    }
    if (!m.done && !m.error) return;
    this.pending.delete(m.task);
    this.inflight[slot]--;
    this.dispatch();
    if (m.done) p.resolve({ bytes: m.done.bytes, changed: m.done.changed });
    else p.resolve({ bytes: 0, error: m.error });
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
