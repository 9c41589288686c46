/**
 * A Backend stores opaque repository files by (type, name). It never interprets their bytes and never imports
 * the repository layer. Contract, for every implementation:
 * - save() is atomic: a reader sees either no file or the whole file, never a torn one; after save() resolves
 *   the file is durable (fsync'ed). It never replaces an existing file: when a file of the same name and size
 *   exists, save() is a no-op (names are content hashes or random).
 * - load() of a missing file throws FlashbackError('ERR_NOT_FOUND'); a full device throws 'ERR_DEVICE_FULL'.
 * - list() yields only complete files (never temporary ones). A directory that does not exist lists as empty:
 *   optional directories (`scrub`, `status`: absent from repositories made before them) are created by the first save().
 */
export type FileType = 'config' | 'keys' | 'snapshots' | 'index' | 'data' | 'locks' | 'scrub' | 'status';

export interface FileInfo {
  name: string;
  size: number;
}

export interface Backend {
  readonly location: string;
  /** create the directory layout of an empty repository (fails if a config exists) */
  create(): Promise<void>;
  /** whether a repository config exists here */
  hasConfig(): Promise<boolean>;
  /** `data` may be given in parts (a pack: its blobs, then its header): they are written with writev, never joined */
  save(type: FileType, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  load(type: FileType, name: string, range?: { offset: number; length: number }): Promise<Buffer>;
  stat(type: FileType, name: string): Promise<FileInfo>;
  list(type: FileType): AsyncIterable<FileInfo>;
  /** names only: cheaper than list() where sizes are not needed (one stat less per file) */
  listNames(type: FileType): AsyncIterable<string>;
  remove(type: FileType, name: string): Promise<void>;
  /** removes temporary files left by interrupted saves (only safe while no writer runs: under an exclusive lock) */
  removeTemporary(type: FileType): Promise<number>;
  /** free bytes on the device, if known */
  freeSpace(): Promise<number | undefined>;
  /**
   * Where a file is, when it is a plain file of the local file system that any thread may open and read: the
   * workers of a scrub or a restore then read packs themselves, instead of the main thread reading and handing
   * them over.
   */
  localPath?(type: FileType, name: string): string;
  /**
   * Starts a file written piece by piece, for a pack written as its blobs come instead of held whole in memory
   * (optional: without it, packs are gathered and saved with save()). Only commit() names the file, with
   * save()'s guarantees; until then it is a temporary file that list() never shows and removeTemporary() removes.
   */
  openWriter?(type: FileType): Promise<FileWriter>;
}

export interface FileWriter {
  /** appends `parts` (kept unchanged by the caller until the promise settles); writes are issued one at a time */
  write(parts: readonly Uint8Array[]): Promise<void>;
  /** makes the file durable and names it `name` (a no-op when a file of that name and size exists) */
  commit(name: string): Promise<void>;
  /** removes the temporary file; never throws */
  discard(): Promise<void>;
}
