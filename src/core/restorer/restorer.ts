/**
 * Restore: creates the planned entries under the target, then fills files pack by pack (each pack is read once,
 * in the order files need them), then hardlinks, then directory metadata deepest first. Nothing is ever written
 * through a symlink or outside the target: every parent is a directory this restore created or checked with
 * lstat, files are opened with O_NOFOLLOW, and names were validated when the trees were decoded.
 */
import { promises as fsp, constants as C, lstatSync, mkdirSync, rmSync, symlinkSync, unlinkSync, linkSync, openSync, closeSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlashbackError, errorMessage, isErrno } from '../errors/errors.js';
import { applyNode, createSpecial } from '../fs/meta.js';
import type { Node } from '../model/node.js';
import type { Repository } from '../repository/repository.js';
import { planRestore, relPath, type PlanEntry, type PlanOptions } from './plan.js';
import { writeSparse, verifyFile } from './write.js';

export interface RestoreOptions extends PlanOptions {
  target: string;
  verify?: boolean;
  /** restore owners (default: when running as root) */
  owner?: boolean;
  sparse?: boolean;
  signal?: AbortSignal;
  warn?: (w: { path: string; message: string }) => void;
}

export interface RestoreState {
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
  skipped: number;
  errors: number;
  current: string;
}

interface FileJob {
  path: Buffer;
  node: Node;
  remaining: number;
  failed: boolean;
  /** open while blobs arrive; created (truncated) by the first write */
  fh?: Promise<fsp.FileHandle>;
  /** writes to one file are serialised: the first one creates it */
  chain: Promise<void>;
}

interface BlobRef {
  job: FileJob;
  pos: number;
  id: string;
}

const WRITE_CONCURRENCY = 8;

export class Restorer {
  readonly state: RestoreState = { files: 0, bytes: 0, totalFiles: 0, totalBytes: 0, skipped: 0, errors: 0, current: '' };
  private readonly target: Buffer;
  private readonly owner: boolean;

  constructor(
    private readonly repo: Repository,
    private readonly treeId: string,
    private readonly opts: RestoreOptions,
  ) {
    this.target = Buffer.from(resolve(opts.target));
    this.owner = opts.owner ?? process.getuid?.() === 0;
  }

  private warn(path: Buffer, message: string): void {
    this.state.errors++;
    this.opts.warn?.({ path: path.toString(), message });
  }

  async run(): Promise<RestoreState> {
    await this.repo.loadIndex();
    const plan = await planRestore(this.repo, this.treeId, this.opts);
    this.state.totalFiles = plan.files;
    this.state.totalBytes = plan.bytes;
    mkdirSync(this.target, { recursive: true });
    if (!lstatSync(this.target).isDirectory()) throw new FlashbackError('ERR_USAGE', `restore target ${this.opts.target} is not a directory`);
    const jobs: FileJob[] = [];
    const links: { path: Buffer; first: Buffer }[] = [];
    const firstLink = new Map<string, Buffer>();
    for (const e of plan.entries) {
      this.checkAbort();
      const path = relPath(this.target, e.rel);
      try {
        const n = e.node;
        if (n.type === 'file' && n.links > 1) {
          const key = `${n.deviceId}:${n.inode}`;
          const first = firstLink.get(key);
          if (first) {
            links.push({ path, first });
            continue;
          }
          firstLink.set(key, path);
        }
        const job = this.create(path, e);
        if (job) jobs.push(job);
      } catch (err) {
        this.warn(path, errorMessage(err));
      }
    }
    await this.fill(jobs);
    for (const l of links) {
      try {
        removeExisting(l.path);
        linkSync(l.first, l.path);
      } catch (err) {
        this.warn(l.path, `cannot create hardlink: ${errorMessage(err)}`);
      }
    }
    if (this.opts.verify) await this.verify(jobs);
    const dirs = plan.entries.filter((e) => e.node.type === 'dir').sort((a, b) => b.depth - a.depth);
    for (const d of dirs) this.applyMeta(relPath(this.target, d.rel), d.node);
    return this.state;
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new FlashbackError('ERR_INTERRUPTED', 'restore interrupted', { hint: 'rerun the same restore: files already restored are skipped' });
  }

  private applyMeta(path: Buffer, node: Node): void {
    for (const w of applyNode(path, node, { owner: this.owner, ownerByName: false })) this.warn(path, w);
  }

  /** Creates one entry; returns a job when a file needs content. */
  private create(path: Buffer, e: PlanEntry): FileJob | undefined {
    const n = e.node;
    this.state.current = e.snapPath;
    switch (n.type) {
      case 'dir':
        safeMkdir(path);
        return undefined;
      case 'symlink':
        removeExisting(path);
        symlinkSync(n.linkTarget!, path);
        this.applyMeta(path, n);
        return undefined;
      case 'socket':
        this.opts.warn?.({ path: path.toString(), message: 'sockets are not restored' });
        return undefined;
      case 'fifo':
      case 'chardev':
      case 'blockdev':
        removeExisting(path);
        createSpecial(path, n);
        this.applyMeta(path, n);
        return undefined;
      case 'file':
        return this.createFile(path, n);
    }
  }

  private createFile(path: Buffer, n: Node): FileJob | undefined {
    try {
      const st = lstatSync(path, { bigint: true });
      if (st.isFile() && st.size === BigInt(n.size) && st.mtimeNs === n.mtime) {
        // identical by size and time: an earlier (maybe interrupted) restore finished this file
        this.state.skipped++;
        this.state.files++;
        this.state.bytes += n.size;
        return undefined;
      }
      if (!st.isFile()) removeExisting(path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const job: FileJob = { path, node: n, remaining: n.content?.length ?? 0, failed: false, chain: Promise.resolve() };
    if (job.remaining === 0) {
      closeSync(openSync(path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600));
      this.applyMeta(path, n);
      this.state.files++;
    }
    return job;
  }

  /** The file's handle, opened (created, truncated, never through a symlink) on first use. */
  private handle(job: FileJob): Promise<fsp.FileHandle> {
    job.fh ??= fsp.open(job.path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
    return job.fh;
  }

  /** After the last blob: size (trailing holes of sparse files), close, then metadata (times last). */
  private async finish(job: FileJob): Promise<void> {
    try {
      const fh = await this.handle(job);
      try {
        await fh.truncate(job.node.size);
      } finally {
        await fh.close();
      }
      this.applyMeta(job.path, job.node);
    } catch (err) {
      this.warn(job.path, errorMessage(err));
    }
    this.state.files++;
  }

  /** Reads every needed pack once, in order of first use, and writes its blobs where they belong. */
  private async fill(jobs: FileJob[]): Promise<void> {
    const byPack = new Map<string, BlobRef[]>();
    for (const job of jobs) {
      let pos = 0;
      for (const id of job.node.content ?? []) {
        const found = this.repo.lookup(id);
        if (!found) {
          this.fail(job, `blob ${id} is missing from the repository`);
          job.remaining--; // the rest of the file is still restored, and the file finished
          continue;
        }
        let refs = byPack.get(found.packId);
        if (!refs) byPack.set(found.packId, (refs = []));
        refs.push({ job, pos, id });
        pos += found.loc.rawLength;
      }
    }
    for (const job of jobs) if (job.remaining === 0 && job.node.content?.length) await this.finish(job);
    for (const [packId, refs] of byPack) {
      this.checkAbort();
      let pack: Buffer | undefined;
      const needed = refs.reduce((s, r) => s + this.repo.lookup(r.id)!.loc.length, 0);
      try {
        const size = (await this.repo.backend.stat('data', packId)).size;
        if (needed * 2 > size) pack = await this.repo.backend.load('data', packId);
      } catch (err) {
        for (const r of refs) this.fail(r.job, `pack ${packId}: ${errorMessage(err)}`);
        continue;
      }
      await runLimited(refs, WRITE_CONCURRENCY, (r) => this.writeRef(packId, pack, r));
    }
  }

  private async writeRef(packId: string, pack: Buffer | undefined, r: BlobRef): Promise<void> {
    const { loc } = this.repo.lookup(r.id)!;
    try {
      const sealed = pack ? pack.subarray(loc.offset, loc.offset + loc.length) : await this.repo.backend.load('data', packId, { offset: loc.offset, length: loc.length });
      if (sealed.length !== loc.length) throw new Error(`pack ${packId} is truncated`);
      const plain = this.repo.openBlob(sealed, loc, Buffer.from(r.id, 'hex'), packId);
      const job = r.job;
      job.chain = job.chain.then(async () => writeSparse(await this.handle(job), plain, r.pos, this.opts.sparse !== false));
      await job.chain;
      this.state.bytes += plain.length;
    } catch (err) {
      this.fail(r.job, errorMessage(err));
    }
    if (--r.job.remaining === 0) await this.finish(r.job);
  }

  private fail(job: FileJob, message: string): void {
    if (!job.failed) this.warn(job.path, message);
    job.failed = true;
  }

  private async verify(jobs: FileJob[]): Promise<void> {
    await runLimited(jobs, 4, async (job) => {
      if (job.failed) return;
      const sizes = (job.node.content ?? []).map((id) => this.repo.lookup(id)?.loc.rawLength ?? -1);
      const bad = await verifyFile(job.path, job.node.content ?? [], sizes, (b) => this.repo.blobId(b));
      if (bad) this.fail(job, `verification failed: ${bad}`);
    });
  }
}

function safeMkdir(path: Buffer): void {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) return;
    unlinkSync(path); // a file or a symlink where the snapshot has a directory: never follow it
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  mkdirSync(path, { mode: 0o700 });
}

function removeExisting(path: Buffer): void {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) rmSync(path, { recursive: true, force: true });
    else unlinkSync(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

async function runLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}


