/**
 * Messages between the backup's main thread (pool.ts) and its chunk workers (chunk-worker.ts). A module of its
 * own: importing the worker module would run the worker.
 */
import type { SharedBlobIndexState } from '../index/blob-index.js';
import type { BlobIdKey } from '../crypto/crypto.js';

export interface WorkerInit {
  slot: number;
  encKey: Buffer;
  idKey: BlobIdKey;
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
  /** stat the walker saw: the worker reports a change if the file differs from it after reading */
  size: number;
  mtime: bigint;
  ctime: bigint;
  /** the path is a symlink the user asked to follow (--follow-symlinks); otherwise never follow one */
  follow?: boolean;
}

/** Main thread → worker: files to read, in order. */
export interface TaskMessage {
  tasks: Omit<FileTask, 'path'>[];
  /**
   * the tasks' paths back to back, task i's ending at ends[i]. One buffer for all: a path is a view into Node's
   * shared 8 KiB Buffer pool, and cloning a view clones its whole ArrayBuffer.
   */
  paths: Uint8Array;
  ends: Uint32Array;
}

/** Fields per chunk in WorkerMessage.meta. */
export const META_FIELDS = 5;
export const M_TASK = 0;
/** offset of the sealed bytes in `data`, or -1 when the repository already holds the blob (not sealed) */
export const M_OFFSET = 1;
export const M_SEALED = 2;
export const M_RAW = 3;
export const M_COMPRESSION = 4;

/**
 * Worker → main thread: the chunks of a batch of files, in file order, and the files that finished. Chunks are
 * packed flat (no object per chunk to clone): ids 32 bytes each in `ids`, sealed blobs back to back in `data`,
 * and META_FIELDS numbers per chunk in `meta`. `data` and `ids` are transferred, not copied.
 */
export interface WorkerMessage {
  data: ArrayBuffer;
  ids: ArrayBuffer;
  meta: Float64Array;
  files: { task: number; bytes: number; changed?: string; error?: { code: string; message: string } }[];
}

