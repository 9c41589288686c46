/**
 * Backup: walks the sources depth-first on the main thread (sync lstat is fastest for this), skips unchanged
 * files using the parent snapshot's trees, and feeds changed files to the chunk workers. A directory's tree is
 * saved once all its entries are known; the walker never waits for that, so the workers stay busy.
 */
import { lstatSync, statSync, type BigIntStats } from 'node:fs';
import { hostname } from 'node:os';
import { FlashbackError, errorMessage } from '../errors/errors.js';
import { readNode } from '../fs/meta.js';
import { DirListing, DirWalker } from '../fs/native.js';
import type { Node } from '../model/node.js';
import { encodeTree } from '../model/tree.js';
import { BlobWriter, findOrphanPacks } from '../repository/blob-writer.js';
import type { Repository } from '../repository/repository.js';
import { filterSnapshots } from '../repository/snapshots.js';
import { ChunkPool } from './pool.js';
import { readContent } from './content.js';
import { buildTrie, normalizeSources, sourceOrder, type SourceTrie } from './sources.js';
import { DirCache, entriesDigest } from './dircache.js';
import { startScan } from './scan.js';
import { snapshotRecord } from './record.js';
import type { BackupOptions, BackupResult, BackupState, BackupWarning } from './types.js';
import { CACHEDIR_TAG, SLASH, ListedEntry, byName, nonDirTotals, type Totals, sameInode, sameNode, interrupted, isCacheDir, join, pending, present, ready, type Entry, type Pending, type Walk } from './entries.js';

export type { BackupOptions, BackupResult, BackupState, BackupWarning } from './types.js';

export class Archiver {
  /** the path being saved, decoded only when the progress display asks (not once per file) */
  private currentPath?: Buffer;
  readonly state: BackupState = { files: 0, dirs: 0, bytes: 0, errors: 0, current: '' };
  private writer!: BlobWriter;
  private pool!: ChunkPool;
  private counts = { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0 };
  private hardlinks = new Map<string, Promise<string[] | undefined>>();
  private dirCache?: DirCache;
  /** directories whose tree came from the directory cache (the parent's tree was not loaded) */
  private cachedDirs = 0;
  /** lists the sources ahead of the walk, in a native thread */
  private walker!: DirWalker;

  constructor(
    private readonly repo: Repository,
    private readonly opts: BackupOptions,
  ) {
    Object.defineProperty(this.state, 'current', { enumerable: true, get: () => this.currentPath?.toString() ?? '' });
  }

  async run(): Promise<BackupResult> {
    const start = this.opts.time ?? new Date();
    const paths = normalizeSources(this.opts.paths);
    for (const p of paths) {
      try {
        lstatSync(p);
      } catch (err) {
        throw new FlashbackError('ERR_USAGE', `cannot back up ${p}: ${errorMessage(err)}`, { hint: 'check the path' });
      }
    }
    // the walker starts listing the sources now, while the index and the parent snapshot load
    this.walker = new DirWalker(sourceOrder(buildTrie(paths)).map((p) => Buffer.from(p)), !!this.opts.oneFileSystem);
    try {
      return await this.backUp(start, paths);
    } finally {
      this.walker.close();
    }
  }

  private async backUp(start: Date, paths: string[]): Promise<BackupResult> {
    await this.repo.loadIndex();
    const host = this.opts.host ?? hostname();
    const parent = await this.findParent(host, paths);
    const o = this.opts;
    this.dirCache = o.cacheDir
      ? DirCache.forBackup(o.cacheDir, this.repo.config.id, host, paths, parent?.id, [o.excluder?.patterns ?? [], !!o.followSymlinks, !!o.oneFileSystem, !!o.excludeCaches])
      : undefined;
    this.writer = new BlobWriter(this.repo);
    await this.writer.adopt(await findOrphanPacks(this.repo));
    this.pool = new ChunkPool(this.repo, this.repo.index.share(), this.opts.threads);
    const scanner = o.scan
      ? startScan(paths, o.excluder?.patterns ?? [], !!o.oneFileSystem, (files, bytes) => {
          this.state.totalFiles = files;
          this.state.totalBytes = bytes;
        })
      : undefined;
    const onAbort = () => this.pool.abort(interrupted());
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    let rootTree: string;
    try {
      const oldRoot = parent ? await this.repo.loadTree(parent.snapshot.tree) : undefined;
      const trie = buildTrie(paths);
      if (trie.source) {
        // backing up "/" itself: the root tree is the root directory's tree
        const st = lstatSync('/', { bigint: true });
        const root = await (await this.saveDir(SLASH, SLASH, st, oldRoot ? ({ type: 'dir', subtree: parent!.snapshot.tree } as Node) : undefined, { ancestors: new Set(), dev: st.dev })).done;
        rootTree = root!.subtree!;
      } else rootTree = await this.saveVirtual(SLASH, trie, oldRoot);
      await this.writer.flush();
    } catch (err) {
      // keep what reached the device usable by the next run: finish the open packs and index them all; where
      // that fails too (a full device), drop the open packs (the next run adopts the saved ones)
      await this.writer.flush().catch(() => this.writer.abort());
      throw err;
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
      await scanner?.terminate();
      await this.pool.close();
    }
    const s = this.writer.stats;
    const snapshot = snapshotRecord({
      start,
      tree: rootTree,
      paths,
      host,
      tags: this.opts.tags ?? [],
      parent: parent?.id,
      excludes: this.opts.excluder?.patterns ?? [],
      summary: {
        ...this.counts,
        data_blobs: s.dataBlobs,
        tree_blobs: s.treeBlobs,
        data_added: s.rawBytes,
        data_added_packed: s.packedBytes,
        total_files_processed: this.state.files,
        total_bytes_processed: this.state.bytes,
        errors: this.state.errors,
      },
    });
    const id = await this.repo.snapshots.save(snapshot);
    this.dirCache?.save(id);
    return { id, snapshot, summary: snapshot.summary!, parent: parent?.id, cachedDirs: this.cachedDirs };
  }

  private async findParent(host: string, paths: string[]) {
    if (this.opts.parent === null) return undefined;
    if (this.opts.parent) return this.repo.snapshots.resolve(this.opts.parent);
    const all = filterSnapshots(await this.repo.snapshots.list(() => undefined), { hosts: [host] });
    const same = all.filter((r) => r.snapshot.paths.length === paths.length && r.snapshot.paths.every((p, i) => p === paths[i]));
    return same[same.length - 1];
  }

  private warn(path: Buffer, kind: BackupWarning['kind'], message: string): void {
    if (kind === 'unreadable') this.state.errors++;
    this.opts.warn?.({ path: path.toString(), kind, message });
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw interrupted();
  }

  /** A directory on the way to a source (e.g. /home for /home/ann): metadata from disk, only the trie's children. */
  private async saveVirtual(path: Buffer, trie: SourceTrie, old: Node[] | undefined): Promise<string> {
    const oldByName = byName(old);
    const nodes: Promise<Node | undefined>[] = [];
    for (const [name, child] of [...trie.children].sort()) {
      const nameBuf = Buffer.from(name);
      const childPath = join(path, nameBuf);
      let st = lstatSync(childPath, { bigint: true });
      // a symlinked directory above a source (/home -> /usr/home) is recorded as a directory: else nothing below restores
      if (!child.source && st.isSymbolicLink()) st = statSync(childPath, { bigint: true });
      const prev = oldByName.get(nameBuf.toString('latin1'));
      if (child.source) {
        nodes.push((await this.saveEntry(childPath, nameBuf, st, prev, { ancestors: new Set(), dev: st.dev }, true)).done);
      } else {
        const node = readNode(childPath, nameBuf, st);
        node.atime = node.mtime; // as for every directory (see saveDir)
        const prevTree = prev?.type === 'dir' && prev.subtree ? await this.loadOldTree(prev.subtree) : undefined;
        node.subtree = await this.saveVirtual(childPath, child, prevTree);
        nodes.push(Promise.resolve(node));
      }
    }
    return this.writer.addTree(encodeTree(present(await Promise.all(nodes))));
  }

  /**
   * Visits one entry. Awaiting the result means the entry has been dispatched, so the walk may go on; its
   * `done` promise gives the node once the content is stored. The walk therefore waits for room in the
   * worker queue (bounded memory), never for a file or a directory to finish (workers stay busy).
   */
  private saveEntry(path: Buffer, name: Buffer, st: BigIntStats, old: Node | undefined, walk: Walk, isSource = false): Pending | Promise<Pending> {
    this.checkAbort();
    if (st.isSymbolicLink() && (this.opts.followSymlinks || (isSource && this.opts.followSymlinks !== false))) {
      let target: BigIntStats | undefined;
      try {
        target = statSync(path, { bigint: true });
      } catch (err) {
        this.warn(path, 'symlink', `cannot follow symlink (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}): stored as a link`);
      }
      if (target && target.isDirectory() && walk.ancestors.has(`${target.dev}:${target.ino}`)) {
        this.warn(path, 'symlink', 'symlink loop: stored as a link');
        target = undefined;
      }
      if (target?.isFile()) return this.saveFile(path, name, target, old, true);
      if (target?.isDirectory()) st = target;
    }
    if (st.isDirectory()) return this.saveDir(path, name, st, old, walk);
    if (st.isFile()) return this.saveFile(path, name, st, old, false);
    this.state.files++;
    return ready(this.tryReadNode(path, name, st));
  }

  private tryReadNode(path: Buffer, name: Buffer, st: BigIntStats): Node | undefined {
    try {
      return readNode(path, name, st);
    } catch (err) {
      this.warn(path, 'unreadable', errorMessage(err));
      return undefined;
    }
  }

  private async saveDir(path: Buffer, name: Buffer, st: BigIntStats, old: Node | undefined, walk: Walk): Promise<Pending> {
    this.state.dirs++;
    this.currentPath = path;
    // Listing a directory updates its atime: recording it would make every tree differ after each run.
    // A directory's atime is therefore recorded as its mtime (and restored so).
    const node = old?.type === 'dir' && sameInode(old, st) ? { ...old, name, subtree: undefined } : this.tryReadNode(path, name, st);
    if (!node) return ready(undefined);
    node.atime = node.mtime;
    let listing = DirListing.empty();
    const crossesDevice = this.opts.oneFileSystem && st.dev !== walk.dev;
    if (!crossesDevice) {
      try {
        listing = this.walker.list(path);
      } catch (err) {
        this.warn(path, 'unreadable', `cannot list directory: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
      }
    }
    const inner: Walk = { ancestors: new Set(walk.ancestors).add(`${st.dev}:${st.ino}`), dev: walk.dev };
    const cache = this.dirCache;
    const o = this.opts;
    const cacheTag = o.excludeCaches && listing.has(CACHEDIR_TAG) && isCacheDir(path);
    // The common case, taken without building an entry per file: every entry readable, none excluded, and
    // the same entries as when the cached tree was made.
    if (cache && !o.excluder && !cacheTag && listing.digested === listing.count && !(o.followSymlinks && listing.hasSymlink())) {
      const cached = this.cachedTree(path, listing.digest);
      if (cached) {
        const subdirs = listing.directories().map((e) => new ListedEntry(path, e.name, e.st!));
        const others = () => listing.entries.filter((e) => !e.st!.isDirectory()).map((e) => new ListedEntry(path, e.name, e.st!));
        return this.saveCachedDir(path, node, cached, listing.digest, subdirs, listing.totals(), others, inner);
      }
    }
    const listed = cacheTag ? listing.entries.filter((e) => e.name.equals(CACHEDIR_TAG)) : listing.entries;
    const entries: Entry[] = [];
    for (const { name: childName, st: cst, error } of listed) {
      if (!cst) {
        this.warn(join(path, childName), 'unreadable', errorMessage(error));
        continue;
      }
      const e = new ListedEntry(path, childName, cst);
      if (o.excluder?.excluded(e.path, cst.isDirectory())) continue;
      entries.push(e);
    }
    if (!cache) return this.saveDirEntries(path, node, old, entries, inner, '');
    // entries come sorted by name; the native digest holds unless an exclusion left entries out
    const digest = entries.length === listing.digested ? listing.digest : entriesDigest(entries);
    const cached = o.followSymlinks && entries.some((e) => e.st.isSymbolicLink()) ? undefined : this.cachedTree(path, digest);
    if (!cached) {
      const prev = cache.get(path);
      return this.saveDirEntries(path, node, old?.subtree ? old : prev && ({ type: 'dir', subtree: prev.tree } as Node), entries, inner, digest);
    }
    const subdirs = entries.filter((e) => e.st.isDirectory());
    const others = () => entries.filter((e) => !e.st.isDirectory());
    return this.saveCachedDir(path, node, cached, digest, subdirs, nonDirTotals(entries), others, inner);
  }

  /** The cached tree of a directory whose entries have this digest now, if the cache has one still in the repository. */
  private cachedTree(path: Buffer, digest: string): string | undefined {
    const cached = this.dirCache?.get(path);
    return cached && cached.digest === digest && this.writer.known(Buffer.from(cached.tree, 'hex')) ? cached.tree : undefined;
  }

  /**
   * A directory with the same entries as in the parent snapshot: its tree is the cached one, provided every
   * subdirectory also keeps its cached tree. Files are not looked at; the parent's tree is not even loaded.
   * If a subdirectory changed, the tree is rebuilt from the cached tree's file nodes (`others`).
   */
  private async saveCachedDir(
    path: Buffer,
    node: Node,
    tree: string,
    digest: string,
    subdirs: Entry[],
    totals: Totals,
    others: () => Entry[],
    inner: Walk,
  ): Promise<Pending> {
    const cache = this.dirCache!;
    const expected = subdirs.map((e) => cache.get(e.path)?.tree);
    const dirs: Promise<Node | undefined>[] = [];
    for (const [i, e] of subdirs.entries()) {
      const prev = expected[i] ? ({ type: 'dir', subtree: expected[i] } as Node) : undefined;
      dirs.push((await this.saveEntry(e.path, e.name, e.st, prev, inner)).done);
    }
    return pending(
      (async () => {
        const got = await Promise.all(dirs);
        if (got.every((n, i) => n?.subtree !== undefined && n.subtree === expected[i])) {
          this.state.files += totals.others;
          this.state.bytes += totals.bytes;
          this.counts.files_unmodified += totals.files;
          this.counts.dirs_unmodified++;
          this.cachedDirs++;
          node.subtree = tree;
          cache.set(path, tree, digest);
          return node;
        }
        return (await this.saveDirEntries(path, node, { type: 'dir', subtree: tree } as Node, others(), inner, digest, got)).done;
      })(),
    );
  }

  /**
   * Saves a directory's entries (reusing unchanged nodes of its old tree) and then its tree. `doneNodes` are
   * the nodes of subdirectories already saved, when the cached fast path found a changed subdirectory.
   */
  private async saveDirEntries(
    path: Buffer,
    node: Node,
    old: Node | undefined,
    entries: Entry[],
    inner: Walk,
    digest: string,
    doneNodes: (Node | undefined)[] = [],
  ): Promise<Pending> {
    const oldTree = old?.type === 'dir' && old.subtree ? await this.loadOldTree(old.subtree) : undefined;
    const oldByName = byName(oldTree);
    const children: Promise<Node | undefined>[] = doneNodes.map((n) => Promise.resolve(n));
    for (const e of entries) {
      const r = this.saveEntry(e.path, e.name, e.st, oldByName.get(e.name.toString('latin1')), inner);
      children.push((r instanceof Promise ? await r : r).done);
    }
    return pending(
      (async () => {
        const nodes = present(await Promise.all(children));
        // every entry as before: the tree is the old one (no encoding, hashing or compressing)
        const same = oldTree && old?.subtree && nodes.length === oldTree.length && nodes.every((n) => sameNode(n, oldByName.get(n.name.toString('latin1'))));
        node.subtree = same ? old!.subtree! : await this.writer.addTree(encodeTree(nodes));
        if (!old?.subtree) this.counts.dirs_new++;
        else if (old.subtree === node.subtree) this.counts.dirs_unmodified++;
        else this.counts.dirs_changed++;
        if (digest) this.dirCache?.set(path, node.subtree, digest);
        return node;
      })(),
    );
  }

  private async loadOldTree(id: string): Promise<Node[] | undefined> {
    try {
      return await this.repo.loadTree(id);
    } catch {
      return undefined; // a damaged parent only costs speed: the files are read again
    }
  }

  /** A file's node, or the promise of it while the walk waits for room in the worker queue (not per file). */
  private saveFile(path: Buffer, name: Buffer, st: BigIntStats, old: Node | undefined, follow: boolean): Pending | Promise<Pending> {
    this.currentPath = path;
    // Unchanged (same size, mtime, ctime, inode): ctime moves with every chmod, chown, link or xattr change,
    // so the old node holds; only the atime may differ. Its content is reused without reading the file.
    if (old?.type === 'file' && old.content && !old.error && sameInode(old, st) && old.content.every((id) => this.writer.known(Buffer.from(id, 'hex')))) {
      this.state.files++;
      this.state.bytes += old.size;
      this.counts.files_unmodified++;
      return ready(old.atime === st.atimeNs && old.name.equals(name) ? old : { ...old, name, atime: st.atimeNs });
    }
    const node = this.tryReadNode(path, name, st);
    if (!node) return ready(undefined);
    node.type = 'file';
    node.size = Number(st.size);
    const key = node.links > 1 ? `${st.dev}:${st.ino}` : undefined;
    const linked = key ? this.hardlinks.get(key) : undefined;
    const done = (content: Promise<string[] | undefined>): Pending =>
      pending(
        content.then((ids) => {
          this.state.files++;
          if (!ids) return undefined;
          node.content = ids;
          if (old) this.counts.files_changed++;
          else this.counts.files_new++;
          return node;
        }),
      );
    if (linked) return done(linked);
    const read = (): Pending => {
      const content = readContent(this.pool, this.writer, this.state, path, st, follow, (kind, message) => this.warn(path, kind, message));
      if (key) this.hardlinks.set(key, content);
      return done(content);
    };
    const room = this.pool.room();
    return room ? room.then(read) : read();
  }
}

export function backup(repo: Repository, opts: BackupOptions): { archiver: Archiver; done: Promise<BackupResult> } {
  const archiver = new Archiver(repo, opts);
  return { archiver, done: archiver.run() };
}
