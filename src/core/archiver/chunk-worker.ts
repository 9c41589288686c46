/**
 * Worker thread of the backup pipeline: reads a file, cuts it into chunks, computes each chunk's keyed id,
 * and — unless the repository already holds that id — compresses and seals it. Files come in batches and
 * results go back in batches (one message for many small files, one per 4 MiB for big ones); a shared credit
 * counter bounds the sealed bytes in flight (memory is budgeted). A chunk is compressed straight into the batch
 * buffer and sealed there in place: no scratch buffer. A batch goes out as an exact-size copy (handing over the
 * 4 MiB buffer itself made every small-file batch a fresh 4 MiB buffer: 1.7× slower, architecture.md).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, constants as C, openSync } from 'node:fs';
import { Chunker, chunkFile, gearTable, type ChunkScratch } from '../chunker/fastcdc.js';
import { compressBound, compressTo } from '../crypto/compress.js';
import { blobId, NONCE_BYTES, sealInto, SEAL_OVERHEAD, type BlobIdKey } from '../crypto/crypto.js';
import { BlobIndex } from '../index/blob-index.js';
import { blobAad } from '../repository/blob-aad.js';
import { META_FIELDS, M_COMPRESSION, M_OFFSET, M_RAW, M_SEALED, M_TASK, type FileTask, type TaskMessage, type WorkerInit, type WorkerMessage } from './chunk-protocol.js';
import { addon } from '../util/addon.js';

/** A batch is sent when its sealed bytes reach this size, and at the end of every task message. */
const BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_CHUNKS = 4096;

const init = workerData as WorkerInit;
const chunker = new Chunker(gearTable(Buffer.from(init.chunkerKey)), init.chunker);
const known = BlobIndex.fromShared(init.index);
const credit = new Int32Array(init.credit);
const encKey = Buffer.from(init.encKey);
const idKey: BlobIdKey = { fn: init.idKey.fn, key: Buffer.from(init.idKey.key) };
const scratch: ChunkScratch = {};

/**
 * The batch being filled: sealed bytes, ids and metadata, copied out (exact size) when sent. Allocated once,
 * large enough for one max-size chunk: its pages are touched only as far as batches reach (BATCH_BYTES, or
 * one chunk longer than that), and it is never replaced (a fresh buffer per large chunk was garbage that
 * piled up to 30 MiB before a collection).
 */
const data = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, compressBound(init.chunker.max) + SEAL_OVERHEAD));
let used = 0;
const ids = Buffer.allocUnsafeSlow(32 * MAX_BATCH_CHUNKS);
const meta = new Float64Array(META_FIELDS * MAX_BATCH_CHUNKS);
let chunks = 0;
let files: WorkerMessage['files'] = [];

function send(): void {
  if (chunks === 0 && files.length === 0) return;
  const out: WorkerMessage = {
    data: data.buffer.slice(0, used),
    ids: ids.buffer.slice(0, 32 * chunks),
    meta: meta.slice(0, META_FIELDS * chunks),
    files,
  };
  parentPort!.postMessage(out, [out.data, out.ids, out.meta.buffer as ArrayBuffer]);
  used = 0;
  chunks = 0;
  files = [];
}

/** Makes room for `need` more bytes in `data`: the batch is sent first if they would take it past BATCH_BYTES. */
function reserve(need: number): void {
  if ((used > 0 && used + need > BATCH_BYTES) || chunks === MAX_BATCH_CHUNKS) send();
}

/**
 * Appends one chunk's record. A new chunk (`chunk` given) is compressed into the batch right where its sealed
 * form goes, then sealed in place (or sealed from `chunk` when compression does not pay).
 */
function addChunk(task: number, id: Buffer, rawLength: number, chunk?: Uint8Array): void {
  let sealedLength = 0;
  let offset = -1;
  let compression = 0;
  if (chunk) {
    const bound = chunk.length < 64 ? chunk.length : compressBound(chunk.length);
    reserve(bound + SEAL_OVERHEAD);
    waitForCredit();
    offset = used;
    const body = data.subarray(used + NONCE_BYTES, used + NONCE_BYTES + bound);
    const n = compressTo(chunk, init.level, body);
    compression = n < 0 ? 0 : 1;
    sealedLength = sealInto(encKey, blobAad(0, id), n < 0 ? chunk : body.subarray(0, n), data, used);
    Atomics.add(credit, init.slot, sealedLength);
    used += sealedLength;
  } else if (chunks === MAX_BATCH_CHUNKS) send();
  id.copy(ids, 32 * chunks);
  const m = META_FIELDS * chunks;
  meta[m + M_TASK] = task;
  meta[m + M_OFFSET] = offset;
  meta[m + M_SEALED] = sealedLength;
  meta[m + M_RAW] = rawLength;
  meta[m + M_COMPRESSION] = compression;
  chunks++;
  if (used >= BATCH_BYTES) send();
}

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

/** [size, mtime ns, ctime ns] of the file just read (addon fstatInto: no Stats object) */
const after = new BigInt64Array(3);

function processFile(t: Omit<FileTask, 'path'>, path: Buffer): void {
  let fd: number;
  try {
    fd = openForRead(path, !!t.follow);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    files.push({ task: t.task, bytes: 0, error: { code: e.code ?? 'EIO', message: e.message } });
    return;
  }
  let bytes = 0;
  try {
    // Read up to the size the walker saw, then compared with the walker's stat: any write since the walk moves
    // ctime (no call can set it back), so equal stats mean these bytes are the file the walker saw.
    for (const chunk of chunkFile(fd, chunker, init.chunker.max, undefined, scratch, t.size)) {
      bytes += chunk.length;
      const id = blobId(idKey, chunk);
      addChunk(t.task, id, chunk.length, known.has(id) ? undefined : chunk);
    }
    addon().fstatInto(fd, after);
    // [size, mtime ns, ctime ns]
    let changed: string | undefined;
    if (BigInt(bytes) !== after[0]) changed = `size changed while it was read (read ${bytes} of ${after[0]} bytes)`;
    else if (after[1] !== t.mtime || after[2] !== t.ctime || Number(after[0]) !== t.size) changed = 'changed while it was read';
    files.push({ task: t.task, bytes, changed });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    files.push({ task: t.task, bytes: 0, error: { code: e.code ?? 'EIO', message: e.message } });
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', (m: TaskMessage) => {
  m.tasks.forEach((t, i) => processFile(t, Buffer.from(m.paths.buffer, m.paths.byteOffset + (i ? m.ends[i - 1] : 0), m.ends[i] - (i ? m.ends[i - 1] : 0))));
  send();
});
