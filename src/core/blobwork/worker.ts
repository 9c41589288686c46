/**
 * Blob worker thread, for restore and scrub. It opens and verifies the blobs of one pack slice (AES-GCM tag,
 * zstd, keyed id); for a restore it writes each where it belongs with plain synchronous syscalls (no promise
 * per operation) and finishes files (size, metadata); for a scrub it also hashes the whole pack and, given the
 * index, checks each tree it opens (decodes it, looks up its files' blobs), so that check's walk of the
 * snapshots needs only the subdirectories afterwards.
 * Paths come from the main thread, built from validated names under the target; files are never opened
 * through a symlink (O_NOFOLLOW).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { closeSync, constants as C, ftruncateSync, openSync, writeSync } from 'node:fs';
import { decodeBlob, type DecodeScratch } from '../repository/blob-codec.js';
import { applyFileMetaFd, applyNode } from '../fs/meta.js';
import { readWritePlan, WrittenBuilder } from './write-plan.js';
import type { Node } from '../model/node.js';
import { decodeTree } from '../model/tree.js';
import { BlobIndex, type BlobIndexReader, type SharedBlobIndexState } from '../index/blob-index.js';

export interface FinishTarget {
  job: number;
  path: Uint8Array;
  node: Node;
  /** create the (empty) file first */
  create: boolean;
  /** set the size (trailing holes) */
  truncate: boolean;
}

export type RestoreRequest =
  | {
      req: number;
      kind: 'write';
      packId: string;
      bytes: Uint8Array;
      /** the blobs of `bytes` and where each goes (write-plan.ts), transferred */
      plan: ArrayBuffer;
      sparse: boolean;
      /** for targets that finish their file: restore the owner */
      owner: boolean;
    }
  | { req: number; kind: 'finish'; files: FinishTarget[]; owner: boolean }
  | {
      /** scrub: the whole pack; reports its SHA-256 and which blobs fail to open */
      req: number;
      kind: 'verify';
      packId: string;
      bytes: Uint8Array;
      blobs: { offset: number; length: number; type: number; compression: number; rawLength: number; id: Uint8Array }[];
    };

/** A tree a scrub opened and decoded: what check's walk needs of it. */
export interface ScannedTree {
  /** index of the blob in the request */
  job: number;
  /** [name, subtree id] of each subdirectory */
  dirs: [string, string][];
  /** [name, blob id] of file content missing from the index */
  missing: [string, string][];
}

export interface RestoreReply {
  req: number;
  /** verify: SHA-256 of the bytes, hex */
  sha256?: string;
  /** verify, with an index: the trees that opened and decoded */
  trees?: ScannedTree[];
  /** finish and verify: per finished file or blob, in request order */
  results: { job: number; end?: number; error?: string; warnings?: string[] }[];
  /** write: per target of the plan (write-plan.ts WrittenBuilder), and its errors and warnings */
  written?: Float64Array;
  issues?: { i: number; error?: string; warnings?: string[] }[];
}

const { encKey, idKey, index } = workerData as { encKey: Uint8Array; idKey: Uint8Array; index?: SharedBlobIndexState };
const known: BlobIndexReader | undefined = index && BlobIndex.fromShared(index);
const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);
/** every blob is decompressed into this buffer (grown to the largest blob): no dead buffers between collections */
const scratch: DecodeScratch = {};

function writeAll(fd: number, data: Buffer, pos: number): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off, pos + off);
}

/** Writes data at pos, leaving 64 KiB blocks of zeros as holes; returns the end of the last byte written. */
function writeSparse(fd: number, data: Buffer, pos: number, sparse: boolean): number {
  if (!sparse) {
    writeAll(fd, data, pos);
    return pos + data.length;
  }
  let written = pos;
  let run = -1;
  for (let i = 0; i < data.length; i += BLOCK) {
    const end = Math.min(i + BLOCK, data.length);
    const zero = data.subarray(i, end).equals(end - i === BLOCK ? ZERO : ZERO.subarray(0, end - i));
    if (!zero && run < 0) run = i;
    if (zero && run >= 0) {
      writeAll(fd, data.subarray(run, i), pos + run);
      written = pos + i;
      run = -1;
    }
  }
  if (run >= 0) {
    writeAll(fd, data.subarray(run), pos + run);
    written = pos + data.length;
  }
  return written;
}

function write(m: Extract<RestoreRequest, { kind: 'write' }>): WrittenBuilder {
  const out = new WrittenBuilder(64);
  let plain: Buffer | undefined;
  let error: string | undefined;
  readWritePlan(
    m.plan,
    (b) => {
      plain = undefined;
      error = undefined;
      try {
        plain = decodeBlob(encKey, idKey, m.bytes.subarray(b.offset, b.offset + b.length), b, b.id, m.packId, scratch);
      } catch (err) {
        error = (err as Error).message;
      }
    },
    (t) => {
      if (!plain) {
        out.failed(t.job, error ?? 'not decoded');
        return;
      }
      try {
        const fd = openSync(t.path, C.O_WRONLY | C.O_CREAT | C.O_NOFOLLOW, 0o600);
        try {
          const end = writeSparse(fd, plain, t.pos, m.sparse);
          if (t.finish) {
            // O_CREAT on a fresh path: the file is as long as its last written byte; trailing holes need a truncate
            if (end !== t.finish.size) ftruncateSync(fd, t.finish.size);
            out.ok(t.job, end, true, applyFileMetaFd(fd, t.finish, m.owner));
          } else {
            out.ok(t.job, end, false);
          }
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        out.failed(t.job, (err as Error).message);
      }
    },
  );
  return out;
}

function finish(m: Extract<RestoreRequest, { kind: 'finish' }>): RestoreReply['results'] {
  return m.files.map((f) => {
    const path = Buffer.from(f.path);
    const node: Node = { ...f.node, name: Buffer.from(f.node.name), linkTarget: undefined, xattrs: f.node.xattrs?.map((x) => ({ name: Buffer.from(x.name), value: Buffer.from(x.value) })) };
    try {
      if (f.create || f.truncate) {
        const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_NOFOLLOW | (f.create ? C.O_TRUNC : 0), 0o600);
        try {
          if (f.truncate) ftruncateSync(fd, node.size);
        } finally {
          closeSync(fd);
        }
      }
      return { job: f.job, warnings: applyNode(path, node, { owner: m.owner, ownerByName: false }) };
    } catch (err) {
      return { job: f.job, error: (err as Error).message };
    }
  });
}

function verify(m: Extract<RestoreRequest, { kind: 'verify' }>, trees: ScannedTree[]): RestoreReply['results'] {
  return m.blobs.map((b, i) => {
    let plain: Buffer;
    try {
      plain = decodeBlob(encKey, idKey, m.bytes.subarray(b.offset, b.offset + b.length), b, b.id, m.packId, scratch);
    } catch (err) {
      return { job: i, error: (err as Error).message };
    }
    if (known && b.type === 1) {
      const tree = scanTree(plain, i, known);
      if (tree) trees.push(tree); // a tree that does not decode is left to check's walk, which reports it
    }
    return { job: i };
  });
}

function scanTree(plain: Buffer, job: number, index: BlobIndexReader): ScannedTree | undefined {
  let nodes: Node[];
  try {
    nodes = decodeTree(plain, 'tree');
  } catch {
    return undefined;
  }
  const t: ScannedTree = { job, dirs: [], missing: [] };
  for (const n of nodes) {
    if (n.type === 'dir' && n.subtree) t.dirs.push([n.name.toString(), n.subtree]);
    for (const id of n.content ?? []) if (!index.has(Buffer.from(id, 'hex'))) t.missing.push([n.name.toString(), id]);
  }
  return t;
}

parentPort!.on('message', (m: RestoreRequest) => {
  if (m.kind === 'verify') {
    const sha = createHash('sha256').update(m.bytes).digest('hex');
    const trees: ScannedTree[] = [];
    const results = verify(m, trees);
    parentPort!.postMessage({ req: m.req, sha256: sha, results, trees: known ? trees : undefined } satisfies RestoreReply);
    return;
  }
  if (m.kind === 'write') {
    const { written, issues } = write(m).finish();
    parentPort!.postMessage({ req: m.req, results: [], written, issues } satisfies RestoreReply, [written.buffer as ArrayBuffer]);
    return;
  }
  parentPort!.postMessage({ req: m.req, results: finish(m) } satisfies RestoreReply);
});
