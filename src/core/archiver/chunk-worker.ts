/**
 * Worker thread of the backup pipeline: reads a file, cuts it into chunks, computes each chunk's keyed id,
 * and — unless the repository already holds that id — compresses and seals it. Results stream back to the
 * main thread chunk by chunk; a shared credit counter bounds the bytes in flight (memory is budgeted).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, constants as C, fstatSync, openSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { Chunker, chunkFile, gearTable, type ChunkScratch } from '../chunker/fastcdc.js';
import { compressInto } from '../crypto/compress.js';
import { seal } from '../crypto/crypto.js';
import { BlobIndex, type SharedBlobIndexState } from '../index/blob-index.js';
import { blobAad } from '../repository/blob-aad.js';

export interface WorkerInit {
  slot: number;
  encKey: Buffer;
  idKey: Buffer;
  chunkerKey: Buffer;
  chunker: { min: number; avg: number; max: number };
  level: number;
  index: SharedBlobIndexState;
  credit: SharedArrayBuffer;
  creditLimit: number;
}

export interface FileTask {
  task: number;
  path: Uint8Array;
  /** stat the walker saw: the worker reports a change if the file differs before or after reading */
  size: number;
  mtime: bigint;
  /** the path is a symlink the user asked to follow (--follow-symlinks); otherwise never follow one */
  follow?: boolean;
}

export interface ChunkMessage {
  id: Uint8Array;
  sealed?: Uint8Array;
  compression: 0 | 1;
  rawLength: number;
}

/** Chunks are batched per file (one message for a small file) and flushed every few MiB for big ones. */
export interface WorkerMessage {
  task: number;
  chunks: ChunkMessage[];
  done?: { bytes: number; changed?: string };
  error?: { code: string; message: string };
}

const BATCH_BYTES = 4 * 1024 * 1024;

const init = workerData as WorkerInit;
const chunker = new Chunker(gearTable(Buffer.from(init.chunkerKey)), init.chunker);
const known = BlobIndex.fromShared(init.index);
const credit = new Int32Array(init.credit);
const encKey = Buffer.from(init.encKey);
const idKey = Buffer.from(init.idKey);
const scratch: ChunkScratch = {};
/** chunks are compressed into this reused buffer (≈ max chunk size): no dead buffer per chunk between collections */
const packed: { buf?: Buffer } = {};

function waitForCredit(): void {
  for (;;) {
    const cur = Atomics.load(credit, init.slot);
    if (cur <= init.creditLimit) return;
    Atomics.wait(credit, init.slot, cur, 200);
  }
}

function openForRead(path: Buffer, follow: boolean): number {
  const flags = C.O_RDONLY | (follow ? 0 : C.O_NOFOLLOW);
  try {
    return openSync(path, flags | C.O_NOATIME);
  } catch (err) {
    // O_NOATIME is refused for files we do not own (EPERM) unless we are root
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return openSync(path, flags);
    throw err;
  }
}

function processFile(t: FileTask): void {
  const path = Buffer.from(t.path);
  let fd: number;
  try {
    fd = openForRead(path, !!t.follow);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ task: t.task, chunks: [], error: { code: e.code ?? 'EIO', message: e.message } } satisfies WorkerMessage);
    return;
  }
  let bytes = 0;
  let batch: ChunkMessage[] = [];
  let transfer: ArrayBuffer[] = [];
  let batchBytes = 0;
  const flush = (last?: Omit<WorkerMessage, 'task' | 'chunks'>) => {
    parentPort!.postMessage({ task: t.task, chunks: batch, ...last } satisfies WorkerMessage, transfer);
    batch = [];
    transfer = [];
    batchBytes = 0;
  };
  try {
    const before = fstatSync(fd, { bigint: true });
    for (const chunk of chunkFile(fd, chunker, init.chunker.max, undefined, scratch)) {
      bytes += chunk.length;
      const id = createHmac('sha256', idKey).update(chunk).digest();
      if (known.has(id)) {
        batch.push({ id, compression: 0, rawLength: chunk.length });
        continue;
      }
      const c = compressInto(chunk, init.level, packed);
      const sealed = seal(encKey, blobAad(0, id), c.bytes);
      waitForCredit();
      Atomics.add(credit, init.slot, sealed.length);
      // seal() allocates large outputs as their own ArrayBuffer, which can then be moved without a copy
      const own = sealed.byteOffset === 0 && sealed.buffer.byteLength === sealed.length;
      const ab = (own ? sealed.buffer : sealed.buffer.slice(sealed.byteOffset, sealed.byteOffset + sealed.length)) as ArrayBuffer;
      batch.push({ id, sealed: new Uint8Array(ab), compression: c.compression, rawLength: chunk.length });
      transfer.push(ab);
      batchBytes += sealed.length;
      if (batchBytes >= BATCH_BYTES) flush();
    }
    const after = fstatSync(fd, { bigint: true });
    let changed: string | undefined;
    if (after.mtimeNs !== before.mtimeNs || after.size !== before.size || after.ctimeNs !== before.ctimeNs) changed = 'changed while it was read';
    else if (BigInt(bytes) !== after.size) changed = `size changed while it was read (read ${bytes} of ${after.size} bytes)`;
    else if (before.mtimeNs !== t.mtime || Number(before.size) !== t.size) changed = 'changed between scan and read';
    flush({ done: { bytes, changed } });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    flush({ error: { code: e.code ?? 'EIO', message: e.message } });
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', (t: FileTask) => processFile(t));
