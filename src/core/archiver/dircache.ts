/**
 * The directory cache (docs/architecture.md "No-change backups"): a file on the host, per repository, that
 * remembers for every directory of the last snapshot the tree id it got and a digest of the `lstat` of its
 * entries. When a directory's entries have the same digest now, its tree is the cached one: the backup neither
 * loads the parent snapshot's tree nor builds a node for its files. It only ever saves work: a missing,
 * damaged or foreign cache file, or one made for another parent snapshot or other options, is ignored.
 *
 * The cache holds paths and tree ids (keyed hashes, which reveal no content) and lives with the source, on the
 * host, never on the device.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';

const VERSION = 1;

export interface CachedDir {
  tree: string;
  digest: string;
}

interface CacheFile {
  version: number;
  snapshot: string;
  key: string;
  /** path (latin1 of its bytes) → [tree id, digest] */
  dirs: Record<string, [string, string]>;
}

export class DirCache {
  private readonly next = new Map<string, [string, string]>();

  private constructor(
    private readonly file: string | undefined,
    private readonly key: string,
    private readonly dirs: Map<string, [string, string]>,
  ) {}

  /** The cache for a backup whose parent is `snapshot` and whose options digest is `key` (empty if none fits). */
  static load(file: string | undefined, snapshot: string | undefined, key: string): DirCache {
    const dirs = new Map<string, [string, string]>();
    if (file && snapshot) {
      try {
        const c = JSON.parse(readFileSync(file, 'latin1')) as CacheFile;
        if (c.version === VERSION && c.snapshot === snapshot && c.key === key && c.dirs && typeof c.dirs === 'object') {
          for (const [p, v] of Object.entries(c.dirs)) if (Array.isArray(v) && /^[0-9a-f]{64}$/.test(v[0]) && typeof v[1] === 'string') dirs.set(p, v);
        }
      } catch {
        /* no cache, or an unreadable one: it only costs speed */
      }
    }
    return new DirCache(file, key, dirs);
  }

  /**
   * The cache of one repository for backups of `paths` from `host` (one file each) whose parent is `parent`.
   * `options` are the backup options that change what a tree holds: a cache made under others does not apply.
   */
  static forBackup(cacheDir: string, repoId: string, host: string, paths: string[], parent: string | undefined, options: unknown): DirCache {
    const who = createHash('sha256').update(JSON.stringify([host, paths])).digest('hex').slice(0, 16);
    const key = createHash('sha256').update(JSON.stringify(options)).digest('hex');
    return DirCache.load(join(cacheDir, repoId, `dirs-${who}.json`), parent, key);
  }

  get size(): number {
    return this.dirs.size;
  }

  get(path: Buffer): CachedDir | undefined {
    const v = this.dirs.get(path.toString('latin1'));
    return v && { tree: v[0], digest: v[1] };
  }

  /** records a directory of this backup, for the next one */
  set(path: Buffer, tree: string, digest: string): void {
    this.next.set(path.toString('latin1'), [tree, digest]);
  }

  /** writes the cache for the snapshot just saved (atomically; failures are ignored: it is only a cache) */
  save(snapshot: string): void {
    if (!this.file) return;
    const c: CacheFile = { version: VERSION, snapshot, key: this.key, dirs: Object.fromEntries(this.next) };
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, JSON.stringify(c), { encoding: 'latin1', mode: 0o600 });
      renameSync(tmp, this.file);
    } catch {
      /* a read-only or full home only loses the speed-up */
    }
  }
}

const rec = new BigInt64Array(11);
const recBytes = new Uint8Array(rec.buffer);

/**
 * Digest of a directory's entries as the tree would record them: names and every `lstat` field a node holds
 * (a ctime change covers mode, owner, link target and xattrs). Entries must come sorted by name.
 */
export function entriesDigest(entries: { name: Buffer; st: BigIntStats }[]): string {
  const h = createHash('sha256');
  for (const { name, st } of entries) {
    rec[0] = BigInt(name.length);
    rec[1] = st.mode;
    rec[2] = st.uid;
    rec[3] = st.gid;
    rec[4] = st.size;
    rec[5] = st.ino;
    rec[6] = st.dev;
    rec[7] = st.nlink;
    rec[8] = st.mtimeNs;
    rec[9] = st.ctimeNs;
    // a directory's atime is recorded as its mtime; a file's atime is recorded as it is
    rec[10] = st.isDirectory() ? st.mtimeNs : st.atimeNs;
    h.update(name);
    h.update(recBytes);
  }
  return h.digest('hex');
}
