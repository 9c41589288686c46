/**
 * Restore: walks the plan in batches of files: creates each batch's entries under the target and fills its files
 * pack by pack (each pack region read once per batch, in the order files need them) while the next batch is
 * walked; then hardlinks, then directory metadata deepest first. Nothing is ever written
 * through a symlink or outside the target: every parent is a directory this restore created or checked with
 * lstat, files are opened with O_NOFOLLOW, and names were validated when the trees were decoded.
 */
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync, unlinkSync, linkSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlashbackError, errorMessage, isErrno } from '../errors/errors.js';
import { applyNode, createSpecial } from '../fs/meta.js';
import type { Node } from '../model/node.js';
import type { Repository } from '../repository/repository.js';
import { walkPlan, planTotals, relPath, type PlanEntry, type PlanOptions, type PlanTotals } from './plan.js';
import { verifyFile } from './write.js';
import { Filler, type FileJob } from './fill.js';
import { BlobWorkerPool } from '../blobwork/pool.js';

/**
 * Files are created and filled in batches of this many files or bytes (whichever comes first): enough to read
 * each pack region in few, large slices, few enough to keep the jobs in memory small (~1 KB per file). The
 * first batch is smaller and each next one twice as large, up to BATCH_FILES, so that the workers start early.
 */
const BATCH_FILES = 4096;
const FIRST_BATCH_FILES = 256;
const BATCH_BYTES = 256 * 1024 * 1024;

export interface RestoreOptions extends PlanOptions {
  target: string;
  verify?: boolean;
  /**
   * Count the files first, for a progress fraction (totalFiles/totalBytes while restoring). The count is a
   * second walk of the trees, run alongside the restore; without it the totals are known only at the end.
   * It costs about 20 % more CPU (Linux 6.12: 6.3-6.9 s -> 7.9-8.3 s wall on two cores).
   */
  count?: boolean;
  /** with count: totals known beforehand (a whole snapshot's summary), shown instead of counting */
  expected?: PlanTotals;
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

export class Restorer {
  readonly state: RestoreState = { files: 0, bytes: 0, totalFiles: 0, totalBytes: 0, skipped: 0, errors: 0, current: '' };
  private readonly target: Buffer;
  private readonly owner: boolean;
  /** directories this restore created (latin1 keys): nothing can be in the way inside them */
  private readonly fresh = new Set<string>();
  private jobCount = 0;
  /** finished files waiting for --verify */
  private toVerify: FileJob[] = [];

  constructor(
    private readonly repo: Repository,
    private readonly treeId: string,
    private readonly opts: RestoreOptions,
  ) {
    this.target = Buffer.from(resolve(opts.target));
    this.owner = opts.owner ?? process.getuid?.() === 0;
    if (opts.count && opts.expected) {
      this.state.totalFiles = opts.expected.files;
      this.state.totalBytes = opts.expected.bytes;
    }
  }

  private warn(path: Buffer, message: string): void {
    this.state.errors++;
    this.opts.warn?.({ path: path.toString(), message });
  }

  async run(): Promise<RestoreState> {
    await this.repo.loadIndex();
    // the count (for progress) is its own walk, beside the one that streams the plan: trees are walked twice
    // so that no more than one batch of entries is held (the whole plan of Linux 6.1 took ~90 MB of heap)
    const counted = this.opts.count && !this.opts.expected
      ? planTotals(this.repo, this.treeId, this.opts).then(
          (t) => {
            this.state.totalFiles = t.files;
            this.state.totalBytes = t.bytes;
          },
          () => undefined, // a damaged tree fails the restore walk itself, with its own message
        )
      : undefined;
    const walked = { files: 0, bytes: 0 };
    if (!existsSync(this.target)) this.fresh.add(this.target.toString('latin1'));
    mkdirSync(this.target, { recursive: true });
    if (!lstatSync(this.target).isDirectory()) throw new FlashbackError('ERR_USAGE', `restore target ${this.opts.target} is not a directory`);
    // held for the whole restore: directories (metadata is applied last, deepest first) and hardlinks, not files
    const dirs: { path: Buffer; node: Node; depth: number }[] = [];
    const links: { path: Buffer; first: Buffer }[] = [];
    const firstLink = new Map<string, Buffer>();
    const pool = new BlobWorkerPool({ encKey: this.repo.keys.encKey, idKey: this.repo.idKey });
    try {
      const filler = this.filler(pool);
      let batch: FileJob[] = [];
      let batchBytes = 0;
      let batchLimit = FIRST_BATCH_FILES;
      try {
        await walkPlan(this.repo, this.treeId, this.opts, (e) => {
          this.checkAbort();
          const path = relPath(this.target, e.rel);
          try {
            const n = e.node;
            if (n.type === 'file') {
              walked.files++;
              walked.bytes += n.size;
            }
            if (n.type === 'dir') dirs.push({ path, node: n, depth: e.depth });
            if (n.type === 'file' && n.error) {
              // marked by repair snapshots: its data is lost; writing an empty or partial file would hide that
              this.warn(path, `not restored: ${n.error}`);
              return;
            }
            if (n.type === 'file' && n.links > 1) {
              const key = `${n.deviceId}:${n.inode}`;
              const first = firstLink.get(key);
              if (first) {
                links.push({ path, first });
                return;
              }
              firstLink.set(key, path);
            }
            const job = this.create(path, e);
            if (!job) return;
            batch.push(job);
            batchBytes += job.node.size;
          } catch (err) {
            this.warn(path, errorMessage(err));
          }
          if (batch.length < batchLimit && batchBytes < BATCH_BYTES) return;
          batchLimit = Math.min(batchLimit * 2, BATCH_FILES);
          const full = batch;
          batch = [];
          batchBytes = 0;
          return filler.add(full).then(() => this.verifyDone());
        });
        await filler.add(batch);
      } finally {
        await filler.close(); // also when interrupted: the writes in flight finish and their files are finished
      }
      await this.verifyDone();
    } finally {
      await pool.close();
    }
    await counted;
    // the walk saw every file the count did: exact totals, also without the count
    this.state.totalFiles = walked.files;
    this.state.totalBytes = walked.bytes;
    this.checkAbort();
    for (const l of links) {
      try {
        removeExisting(l.path);
        linkSync(l.first, l.path);
      } catch (err) {
        this.warn(l.path, `cannot create hardlink: ${errorMessage(err)}`);
      }
    }
    dirs.sort((a, b) => b.depth - a.depth);
    for (const d of dirs) this.applyMeta(d.path, d.node);
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
        if (safeMkdir(path)) this.fresh.add(path.toString('latin1'));
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

  /** Decides what to do with a file; the restore workers create and write it. */
  private createFile(path: Buffer, n: Node): FileJob | undefined {
    const parent = path.subarray(0, path.lastIndexOf(0x2f));
    // inside a directory this restore created, nothing can be in the way: no need to look
    if (!this.fresh.has(parent.toString('latin1'))) {
      try {
        const st = lstatSync(path, { bigint: true });
        if (st.isFile() && st.size === BigInt(n.size) && st.mtimeNs === n.mtime) {
          // identical by size and time: an earlier (maybe interrupted) restore finished this file
          this.state.skipped++;
          this.state.files++;
          this.state.bytes += n.size;
          return undefined;
        }
        removeExisting(path); // the workers create the file anew, never through a symlink
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return { index: this.jobCount++, path, node: n, remaining: n.content?.length ?? 0, failed: false, end: 0 };
  }

  private filler(pool: BlobWorkerPool): Filler {
    return new Filler(this.repo, pool, {
      sparse: this.opts.sparse !== false,
      owner: this.owner,
      aborted: () => !!this.opts.signal?.aborted,
      fail: (job, message) => this.fail(job, message),
      warn: (job, message) => this.warn(job.path, message),
      done: (job) => {
        this.state.files++;
        if (this.opts.verify) this.toVerify.push(job);
      },
      bytes: (n) => (this.state.bytes += n),
    });
  }

  private fail(job: FileJob, message: string): void {
    if (!job.failed) this.warn(job.path, message);
    job.failed = true;
  }

  /** --verify: re-reads the files finished so far (their content is final; hardlinks come later, as names) */
  private async verifyDone(): Promise<void> {
    const jobs = this.toVerify.splice(0);
    await runLimited(jobs, 4, async (job) => {
      if (job.failed) return;
      const sizes = (job.node.content ?? []).map((id) => this.repo.lookup(id)?.loc.rawLength ?? -1);
      const bad = await verifyFile(job.path, job.node.content ?? [], sizes, (b) => this.repo.blobId(b));
      if (bad) this.fail(job, `verification failed: ${bad}`);
    });
  }
}

/** Creates the directory; returns true when it is new (so nothing can be inside it yet). */
function safeMkdir(path: Buffer): boolean {
  try {
    mkdirSync(path, { mode: 0o700 });
    return true;
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  if (lstatSync(path).isDirectory()) return false;
  unlinkSync(path); // a file or a symlink where the snapshot has a directory: never follow it
  mkdirSync(path, { mode: 0o700 });
  return true;
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


