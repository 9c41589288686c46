/**
 * Blob workers (restore writes, scrub verification); each request goes to the least busy one. With `depth`, a
 * worker is given at most that many requests at once and the others wait here, each going to the first worker
 * that is done: a scrub's slices so spread over the workers as they free up, and none is left idle at the end
 * while another works through a queue.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { RestoreReply, RestoreRequest } from './worker.js';
import type { SharedBlobIndexState } from '../index/blob-index.js';
import type { BlobIdKey } from '../crypto/crypto.js';

/** The bytes as an ArrayBuffer of their own, to transfer to a worker (a view into a larger buffer is copied out). */
export function transferable(bytes: Uint8Array): ArrayBuffer {
  const own = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
  return (own ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) as ArrayBuffer;
}

type Request = RestoreRequest extends infer R ? (R extends { req: number } ? Omit<R, 'req'> : never) : never;

export class BlobWorkerPool {
  private workers: Worker[] = [];
  private busy: number[] = [];
  private waiting = new Map<number, { resolve: (r: RestoreReply) => void; reject: (e: unknown) => void; slot: number }>();
  private queue: { msg: RestoreRequest; transfer: ArrayBuffer[] }[] = [];
  private readonly depth: number;
  private next = 1;

  /** `index`: a scrub's workers also check the trees they open against it (worker.ts) */
  constructor(keys: { encKey: Uint8Array; idKey: BlobIdKey }, opts: { threads?: number; index?: SharedBlobIndexState; depth?: number } = {}) {
    this.depth = opts.depth ?? Infinity;
    const threads = opts.threads ?? Math.max(1, Math.min(availableParallelism(), 4));
    for (let i = 0; i < threads; i++) {
      // a small young generation: blob work allocates short-lived buffers, and V8 would otherwise let ~40 MiB of
      // semi-spaces pile up per worker before collecting (docs/architecture.md "Memory budget")
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { encKey: keys.encKey, idKey: keys.idKey, index: opts.index }, resourceLimits: { maxYoungGenerationSizeMb: 6 } });
      w.on('message', (m: RestoreReply) => {
        const p = this.waiting.get(m.req);
        if (!p) return;
        this.waiting.delete(m.req);
        if (--this.busy[p.slot] === 0) w.unref();
        p.resolve(m);
        this.dispatch();
      });
      w.on('error', (err) => {
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
        this.queue = [];
      });
      // idle workers do not keep the process alive; a worker with requests in flight does (ref() in call()),
      // or a library caller with nothing else pending would see the event loop end under its await
      w.unref();
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  run(r: Request, transfer: ArrayBuffer[] = []): Promise<RestoreReply['results']> {
    return this.call(r, transfer).then((m) => m.results);
  }

  /** the whole reply (verify also returns the pack's SHA-256) */
  call(r: Request, transfer: ArrayBuffer[] = []): Promise<RestoreReply> {
    const req = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(req, { resolve, reject, slot: -1 });
      this.queue.push({ msg: { ...r, req } as RestoreRequest, transfer });
      this.dispatch();
    });
  }

  /** hands queued requests, in order, to the least busy workers below `depth` */
  private dispatch(): void {
    while (this.queue.length) {
      let slot = 0;
      for (let i = 1; i < this.workers.length; i++) if (this.busy[i] < this.busy[slot]) slot = i;
      if (this.busy[slot] >= this.depth) return;
      const { msg, transfer } = this.queue.shift()!;
      this.waiting.get(msg.req)!.slot = slot;
      if (this.busy[slot]++ === 0) this.workers[slot].ref();
      this.workers[slot].postMessage(msg, transfer);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
