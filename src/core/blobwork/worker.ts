/**
 * Blob worker thread, for restore and scrub. It opens and verifies blobs of one pack (AES-GCM tag, zstd, keyed
 * id); for a restore it writes each where it belongs with plain synchronous syscalls (no promise per operation)
 * and finishes files (size, metadata); for a scrub it verifies a slice of a pack's blobs, hashes the whole pack
 * when asked and, given the index, checks each tree it opens (decodes it, looks up its files' blobs), so that
 * check's walk of the snapshots needs only the subdirectories afterwards.
 * Paths come from the main thread, built from validated names under the target; files are never opened
 * through a symlink (O_NOFOLLOW).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { closeSync, constants as C, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { decodeBlob, type DecodeScratch } from '../repository/blob-codec.js';
import { applyFileMetaFd, applyNode } from '../fs/meta.js';
import { readWritePlan, WrittenBuilder } from './write-plan.js';
import type { Node } from '../model/node.js';
import { decodeTree } from '../model/tree.js';
import { releaseScratch } from '../util/scratch.js';
import { BlobIndex, type BlobIndexReader, type SharedBlobIndexState } from '../index/blob-index.js';
import { hashFile, headerIdsIn, headerIdsOf, PackReadError, WindowReader, type ReadScratch } from './pack-reader.js';
import { errorMessage } from '../errors/errors.js';
import type { BlobIdKey } from '../crypto/crypto.js';

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
      /** a span of the pack, transferred; or the worker reads the span itself from `path` (a local pack) */
      bytes?: Uint8Array;
      path?: string;
      span?: { offset: number; length: number };
      /** the blobs of the span and where each goes (write-plan.ts), transferred */
      plan: ArrayBuffer;
      sparse: boolean;
      /** for targets that finish their file: restore the owner */
      owner: boolean;
    }
  | { req: number; kind: 'finish'; files: FinishTarget[]; owner: boolean }
  | {
      /**
       * scrub: opens some of a pack's blobs and reports which fail. The bytes come transferred, or the worker
       * reads them from `path` itself: the whole pack with `whole`, otherwise the span of the given blobs.
       * With `whole` it also reports the pack's SHA-256 and its header's blob ids.
       */
      req: number;
      kind: 'verify';
      packId: string;
      bytes?: Uint8Array;
      path?: string;
      whole: boolean;
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
  /** verify, `whole`: SHA-256 of the bytes, hex */
  sha256?: string;
  /** verify, `whole`: the ids in the pack's header, back to back, or why the header cannot be read */
  header?: { ids: Uint8Array } | { error: string };
  /** verify from a path: the pack could not be read */
  readError?: string;
  /** verify, with an index: the trees that opened and decoded */
  trees?: ScannedTree[];
  /** finish: per finished file, in request order; verify: the blobs that failed */
  results: { job: number; end?: number; error?: string; warnings?: string[] }[];
  /** write: per target of the plan (write-plan.ts WrittenBuilder), and its errors and warnings */
  written?: Float64Array;
  issues?: { i: number; error?: string; warnings?: string[] }[];
}

const data = workerData as { encKey: Uint8Array; idKey: BlobIdKey; index?: SharedBlobIndexState };
// keys arrive as plain Uint8Arrays (structured clone)
const encKey = Buffer.from(data.encKey);
const idKey: BlobIdKey = { fn: data.idKey.fn, key: Buffer.from(data.idKey.key) };
const index = data.index;
const known: BlobIndexReader | undefined = index && BlobIndex.fromShared(index);
const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);
/**
 * Blobs are opened in place, over bytes this thread owns (read by it, or transferred to it), and decompressed
 * into one buffer (grown to the largest blob): no dead buffers between collections.
 */
const inPlace: DecodeScratch = { inPlace: true };
/** local packs are read into this buffer, a window at a time (pack-reader.ts) */
const readScratch: ReadScratch = {};
const WINDOW = 4 * 1024 * 1024;

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
  let fd: number | undefined;
  let readError: string | undefined;
  let reader: WindowReader | undefined;
  if (m.path !== undefined) {
    try {
      fd = openSync(m.path, C.O_RDONLY);
      reader = new WindowReader(fd, readScratch, WINDOW, m.span!.offset + m.span!.length);
    } catch (err) {
      readError = `cannot read ${m.path}: ${errorMessage(err)}`;
    }
  }
  try {
    return writePlan(m, out, readError, (offset, length) => (reader ? reader.get(m.span!.offset + offset, length) : m.bytes!.subarray(offset, offset + length)));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Opens each blob of the plan (`blobAt`: its sealed bytes, fewer when the pack is cut short) and writes it. */
function writePlan(m: Extract<RestoreRequest, { kind: 'write' }>, out: WrittenBuilder, readError: string | undefined, blobAt: (offset: number, length: number) => Uint8Array): WrittenBuilder {
  let plain: Buffer | undefined;
  let error: string | undefined;
  readWritePlan(
    m.plan,
    (b) => {
      plain = undefined;
      error = readError;
      if (error !== undefined) return;
      try {
        const sealed = blobAt(b.offset, b.length);
        // a truncated pack: the blobs before the cut are still restored
        if (sealed.length < b.length) error = `pack ${m.packId} is truncated`;
        else plain = decodeBlob(encKey, idKey, sealed, b, b.id, m.packId, inPlace);
      } catch (err) {
        error = err instanceof PackReadError ? `cannot read ${m.path}: ${err.message}` : (err as Error).message;
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

type VerifyRequest = Extract<RestoreRequest, { kind: 'verify' }>;

/** Where a scrub's blobs come from: the transferred pack, or the pack file read window by window. */
interface VerifySource {
  sha256(): string;
  header(): RestoreReply['header'];
  blobAt(offset: number, length: number): Buffer;
}

function verifyPack(m: VerifyRequest): RestoreReply {
  const trees: ScannedTree[] = [];
  let fd: number | undefined;
  try {
    let src: VerifySource;
    if (m.path === undefined) {
      const bytes = Buffer.from(m.bytes!.buffer, m.bytes!.byteOffset, m.bytes!.length);
      src = {
        sha256: () => createHash('sha256').update(bytes).digest('hex'),
        header: () => headerIdsIn(bytes, encKey, m.packId),
        blobAt: (offset, length) => bytes.subarray(offset, offset + length),
      };
    } else {
      const file = (fd = openSync(m.path, C.O_RDONLY));
      const size = m.whole ? fstatSync(file).size : 0;
      // a slice reads only the span of its blobs (a pack of tiny blobs has too many for Math.min(...spread))
      let end = 0;
      for (const b of m.blobs) end = Math.max(end, b.offset + b.length);
      const reader = new WindowReader(file, readScratch, WINDOW, end);
      src = {
        sha256: () => hashFile(file, size, readScratch, WINDOW),
        header: () => headerIdsOf(file, size, encKey, m.packId),
        blobAt: (offset, length) => reader.get(offset, length),
      };
    }
    const reply: RestoreReply = { req: m.req, results: [] };
    if (m.whole) {
      // before the blobs are opened in place
      reply.sha256 = src.sha256();
      reply.header = src.header();
    }
    reply.results = verify(m, src.blobAt, trees);
    return { ...reply, trees: known ? trees : undefined };
  } catch (err) {
    return { req: m.req, results: [], readError: err instanceof PackReadError ? err.message : errorMessage(err) };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Opens every blob of the request (`blobAt`: its sealed bytes, fewer past the end of the pack); returns the
 * ones that fail (a result per blob would be mostly `ok`). A failed read (PackReadError) fails the request.
 */
function verify(m: VerifyRequest, blobAt: (offset: number, length: number) => Buffer, trees: ScannedTree[]): RestoreReply['results'] {
  const failed: RestoreReply['results'] = [];
  m.blobs.forEach((b, i) => {
    let plain: Buffer;
    try {
      const sealed = blobAt(b.offset, b.length);
      if (sealed.length < b.length) throw new Error(`blob ${Buffer.from(b.id).toString('hex')} lies beyond the end of the pack`);
      plain = decodeBlob(encKey, idKey, sealed, b, b.id, m.packId, inPlace);
    } catch (err) {
      if (err instanceof PackReadError) throw err;
      failed.push({ job: i, error: (err as Error).message });
      return;
    }
    if (known && b.type === 1) {
      const tree = scanTree(plain, i, known);
      if (tree) trees.push(tree); // a tree that does not decode is left to check's walk, which reports it
    }
  });
  return failed;
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
  if (m.kind === 'verify') parentPort!.postMessage(verifyPack(m));
  else if (m.kind === 'write') {
    const { written, issues } = write(m).finish();
    parentPort!.postMessage({ req: m.req, results: [], written, issues } satisfies RestoreReply, [written.buffer as ArrayBuffer]);
  } else parentPort!.postMessage({ req: m.req, results: finish(m) } satisfies RestoreReply);
  // the scratch buffers' contents are dead between requests: what a large blob made resident goes back
  releaseScratch(readScratch.buf);
  releaseScratch(inPlace.buf);
});
