/**
 * Local directory backend: a repository on a mounted device (ext4, Btrfs, exFAT, FAT32, NTFS...).
 * It relies on nothing but create, write, fsync, rename-to-a-new-name, unlink and readdir: no chmod, no
 * symlinks, no hardlinks, no rename over an existing file (design.md §3, §14).
 */
import { promises as fsp, constants as C } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Backend, FileInfo, FileType, FileWriter } from './backend.js';
import { FlashbackError, isErrno } from '../errors/errors.js';

const HEX = /^[0-9a-f]{64}$/;

export class LocalBackend implements Backend {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir;
  }

  path(type: FileType, name: string): string {
    if (type === 'config') return join(this.location, 'config');
    if (!HEX.test(name)) throw new FlashbackError('ERR_INVALID', `invalid repository file name ${JSON.stringify(name)}`);
    if (type === 'data') return join(this.location, 'data', name.slice(0, 2), name);
    return join(this.location, type, name);
  }

  localPath(type: FileType, name: string): string {
    return this.path(type, name);
  }

  async create(): Promise<void> {
    if (await this.hasConfig()) {
      throw new FlashbackError('ERR_REPOSITORY_EXISTS', `a repository already exists at ${this.location}`);
    }
    await wrapIo(this.location, async () => {
      await fsp.mkdir(this.location, { recursive: true });
      // `scrub/` is optional (design.md §13): created by its first save(), like a lost sub-directory below
      for (const d of ['keys', 'snapshots', 'index', 'locks', 'data']) await fsp.mkdir(join(this.location, d), { recursive: true });
      for (let i = 0; i < 256; i++) await fsp.mkdir(join(this.location, 'data', i.toString(16).padStart(2, '0')), { recursive: true });
    });
  }

  async hasConfig(): Promise<boolean> {
    try {
      await fsp.stat(join(this.location, 'config'));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
      throw ioError(this.location, err);
    }
  }

  async save(type: FileType, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const final = this.path(type, name);
    const parts = (data instanceof Uint8Array ? [data] : data).filter((p) => p.length > 0);
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (await this.existsWithSize(final, size)) return;
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await this.openTemp(tmp);
      await writeParts(fh, parts, size, 0);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await fsp.rename(tmp, final);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
      throw ioError(final, err);
    }
    await syncDir(join(final, '..'));
  }

  /**
   * A file written piece by piece: a temporary file (data/tmp/ for packs: their directory is known only from
   * their name, the hash of their bytes) that commit() makes durable and renames, with save()'s guarantees.
   */
  async openWriter(type: FileType): Promise<FileWriter> {
    const dir = type === 'data' ? join(this.location, 'data', 'tmp') : join(this.location, type);
    const tmp = join(dir, `${randomBytes(8).toString('hex')}.tmp`);
    try {
      return new LocalFileWriter(this, type, tmp, await this.openTemp(tmp));
    } catch (err) {
      throw ioError(tmp, err);
    }
  }

  /** true when `final` exists with `size` bytes (nothing to write); throws when it exists with another size */
  async existsWithSize(final: string, size: number): Promise<boolean> {
    try {
      const st = await fsp.stat(final);
      if (st.size === size) return true;
      throw new FlashbackError('ERR_DAMAGED', `${final} exists with a different size (${st.size}, expected ${size})`, {
        hint: 'the file is damaged; run "flashback check"',
      });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err instanceof FlashbackError ? err : ioError(final, err);
      return false;
    }
  }

  /** Creates a new file (never an existing one); recreates a lost directory, but only below an existing config. */
  private async openTemp(tmp: string): Promise<fsp.FileHandle> {
    try {
      return await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
    } catch (err) {
      // a copy of the repository may have lost its empty sub-directories (git, some sync tools), and optional
      // directories (scrub/, data/tmp/) do not exist until their first file
      if (!isErrno(err, 'ENOENT')) throw err;
      await this.mkdirInRepository(join(tmp, '..'));
      return await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
    }
  }

  /** mkdir -p, but never where the repository itself is gone */
  async mkdirInRepository(dir: string): Promise<void> {
    // a stick pulled out leaves an empty mount point, and recreating data/xx there would write backups onto
    // the laptop's own disk
    try {
      await fsp.stat(join(this.location, 'config'));
    } catch (cause) {
      throw new FlashbackError('ERR_IO', `the repository at ${this.location} is gone (its config file cannot be found)`, {
        hint: 'the device was removed or failed; plug it in again and rerun: what was already saved is kept',
        cause,
      });
    }
    await fsp.mkdir(dir, { recursive: true });
  }

  /**
   * Whole files are read with one read() after fstat(), not with fs.readFile: that reads in 512 KiB slices, an
   * event-loop round trip each, and while worker threads keep both cores busy (check, restore) each round trip
   * waits for a time slice: 0.3–0.6 s per 16 MiB pack measured here, against a few milliseconds.
   */
  async load(type: FileType, name: string, range?: { offset: number; length: number }): Promise<Buffer> {
    const p = this.path(type, name);
    try {
      const fh = await fsp.open(p, 'r');
      try {
        const offset = range?.offset ?? 0;
        const length = range?.length ?? (await fh.stat()).size;
        const buf = Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === length ? buf : buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw ioError(p, err);
    }
  }

  async stat(type: FileType, name: string): Promise<FileInfo> {
    const p = this.path(type, name);
    try {
      const st = await fsp.stat(p);
      return { name, size: st.size };
    } catch (err) {
      throw ioError(p, err);
    }
  }

  /** every entry (directory, name) of the directories holding files of `type`; a missing directory has none */
  private async *entries(type: FileType, extraDirs: string[] = []): AsyncIterable<[string, string]> {
    if (type === 'config') return;
    const dirs = [...(type === 'data' ? await this.dataDirs() : [join(this.location, type)]), ...extraDirs];
    for (const dir of dirs) {
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw ioError(dir, err);
      }
      for (const name of names.sort()) yield [dir, name];
    }
  }

  async *listNames(type: FileType): AsyncIterable<string> {
    for await (const [, name] of this.entries(type)) if (HEX.test(name)) yield name;
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    for await (const name of this.listNames(type)) {
      const p = this.path(type, name);
      try {
        const st = await fsp.stat(p);
        yield { name, size: st.size };
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw ioError(p, err); // removed meanwhile: not listed
      }
    }
  }

  private async dataDirs(): Promise<string[]> {
    const base = join(this.location, 'data');
    try {
      return (await fsp.readdir(base)).filter((n) => /^[0-9a-f]{2}$/.test(n)).sort().map((n) => join(base, n));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw ioError(base, err);
    }
  }

  async removeTemporary(type: FileType): Promise<number> {
    let n = 0;
    for await (const [dir, name] of this.entries(type, type === 'data' ? [join(this.location, 'data', 'tmp')] : [])) {
      if (!name.endsWith('.tmp')) continue;
      await fsp.unlink(join(dir, name)).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw ioError(join(dir, name), err);
      });
      n++;
    }
    return n;
  }

  async remove(type: FileType, name: string): Promise<void> {
    const p = this.path(type, name);
    try {
      await fsp.unlink(p);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw ioError(p, err);
    }
  }

  async freeSpace(): Promise<number | undefined> {
    try {
      const s = await fsp.statfs(this.location);
      return s.bavail * s.bsize;
    } catch {
      return undefined;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  // Directory fsync makes the rename durable on ext4/Btrfs; some file systems (FUSE exFAT/FAT) refuse it.
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    /* not supported here: the rename is as durable as the file system makes it */
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** errno codes that mean the device (or the FUSE daemon serving it) went away */
const DEVICE_GONE = new Set(['EIO', 'ENODEV', 'ENXIO', 'ENOTCONN', 'ECONNABORTED', 'ESHUTDOWN', 'EROFS']);

export function ioError(path: string, err: unknown): Error {
  if (err instanceof FlashbackError) return err;
  if (isErrno(err, 'ENOENT')) return new FlashbackError('ERR_NOT_FOUND', `${path} does not exist`, { cause: err });
  if (isErrno(err, 'ENOSPC', 'EDQUOT', 'EFBIG')) {
    return new FlashbackError('ERR_DEVICE_FULL', `no space left on the device holding ${path}`, {
      hint: 'free space on the device (flashback prune), or use a larger device; nothing already saved was lost',
      cause: err,
    });
  }
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const message = (err as Error)?.message ?? String(err);
  return new FlashbackError('ERR_IO', `${path}: ${message.startsWith(code) ? message : `${code} ${message}`.trim()}`, {
    hint: DEVICE_GONE.has(code) ? 'the device was removed or failed; plug it in again and rerun: what was already saved is kept' : undefined,
    cause: err,
  });
}

async function wrapIo<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw ioError(path, err);
  }
}

/** Writes `parts` back to back from offset `at` (writev, at most IOV_MAX buffers a call), resuming short writes. */
async function writeParts(fh: fsp.FileHandle, parts: readonly Uint8Array[], size: number, at: number): Promise<void> {
  const IOV = 1024;
  let pos = 0;
  let i = 0;
  let skip = 0; // bytes of parts[i] already written
  while (pos < size) {
    const batch: Uint8Array[] = [];
    for (let j = i; j < parts.length && batch.length < IOV; j++) batch.push(j === i ? parts[j].subarray(skip) : parts[j]);
    let { bytesWritten } = await fh.writev(batch, at + pos);
    if (bytesWritten === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    pos += bytesWritten;
    while (i < parts.length && bytesWritten >= parts[i].length - skip) {
      bytesWritten -= parts[i].length - skip;
      skip = 0;
      i++;
    }
    skip += bytesWritten;
  }
}

/** LocalBackend.openWriter's file: appended to in order, then committed (fsync, rename) or discarded. */
class LocalFileWriter implements FileWriter {
  private size = 0;
  private fh: fsp.FileHandle | undefined;

  constructor(
    private readonly backend: LocalBackend,
    private readonly type: FileType,
    private readonly tmp: string,
    fh: fsp.FileHandle,
  ) {
    this.fh = fh;
  }

  async write(parts: readonly Uint8Array[]): Promise<void> {
    if (!this.fh) throw new Error(`${this.tmp} is closed`);
    const size = parts.reduce((n, p) => n + p.length, 0);
    const at = this.size; // taken now: a write issued before this one completes still lands before it
    this.size += size;
    try {
      await writeParts(this.fh, parts, size, at);
    } catch (err) {
      throw ioError(this.tmp, err);
    }
  }

  async commit(name: string): Promise<void> {
    const final = this.backend.path(this.type, name);
    const fh = this.fh;
    if (!fh) throw new Error(`${this.tmp} is closed`);
    this.fh = undefined;
    try {
      await fh.sync();
      await fh.close();
      if (await this.backend.existsWithSize(final, this.size)) {
        await fsp.unlink(this.tmp);
        return;
      }
      try {
        await fsp.rename(this.tmp, final);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        await this.backend.mkdirInRepository(join(final, '..')); // a lost data/xx
        await fsp.rename(this.tmp, final);
      }
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.unlink(this.tmp).catch(() => undefined);
      throw ioError(final, err);
    }
    await syncDir(join(final, '..'));
  }

  async discard(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
    await fsp.unlink(this.tmp).catch(() => undefined);
  }
}
