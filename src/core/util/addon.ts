/**
 * Loads the flashback_native addon (native/: flashback.c for system calls Node does not expose, crypto.c for
 * the per-blob AES-256-GCM and HMAC-SHA256). Every thread loads its own instance; each keeps its own OpenSSL
 * contexts. Loaded on first use so that modules importing this one still load where the addon is not built.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Addon {
  llistxattr(path: Buffer): Buffer[];
  lgetxattr(path: Buffer, name: Buffer): Buffer;
  lsetxattr(path: Buffer, name: Buffer, value: Buffer): void;
  utimensat(path: Buffer, aSec: bigint, aNsec: number, mSec: bigint, mNsec: number, noFollow: boolean): void;
  futimens(fd: number, aSec: bigint, aNsec: number, mSec: bigint, mNsec: number): void;
  /** out = [size, mtime ns, ctime ns] of the open file */
  fstatInto(fd: number, out: BigInt64Array): void;
  /** glibc mallopt(M_ARENA_MAX), mallopt(M_MMAP_THRESHOLD) for the process (0: leave as is); false elsewhere */
  tuneMalloc(arenaMax: number, mmapThreshold: number): boolean;
  /** madvise(MADV_DONTNEED) of the whole pages in buf[from..] (they read as zeros afterwards); the bytes released */
  releasePages(buf: Uint8Array, from: number): number;
  mknod(path: Buffer, mode: number, rdev: bigint): void;
  getpwuid(uid: number): string | undefined;
  getgrgid(gid: number): string | undefined;
  getpwnam(name: string): number | undefined;
  getgrnam(name: string): number | undefined;
  /** sorted by name, names back to back (ends[i]: where name i ends); digest covers the `ok` entries whose lstat succeeded (native/listing.c) */
  lstatdir(path: Buffer, walker?: unknown): { names: Buffer; ends: Uint32Array; stats: BigInt64Array; digest: Buffer; ok: number };
  walkerStart(roots: Buffer[], oneFileSystem: boolean, maxHeld?: number): unknown;
  walkerStop(walker: unknown): void;
  /** native/index.c: adds an index body's entries into a blob index table with room reserved; returns the new count */
  indexInsertBody(body: Uint8Array, packs: Uint32Array, slots: Uint32Array, ids: Int32Array[], meta: Uint32Array[], flags: Uint8Array[], count: number): number;
  /**
   * native/chunker.c: the end of the first FastCDC boundary in buf[from..limit) (maskS before mid, maskL after),
   * the hash rebuilt from buf[warm..from); -1 if none. state = gear[256], maskS, maskL.
   */
  gearScan(state: Int32Array, buf: Uint8Array, warm: number, from: number, mid: number, limit: number): number;
  /** nonce ‖ AES-256-GCM(key, nonce, aad, plain) ‖ tag, in a Buffer of its own */
  seal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer;
  /** the same, written at out[offset..]; returns the bytes written (plain.length + 28) */
  sealInto(key: Uint8Array, aad: Uint8Array, plain: Uint8Array, out: Uint8Array, offset: number): number;
  /** undefined when authentication fails */
  open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined;
  /** plaintext length written at out[0..], or -1 when authentication fails */
  openInto(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): number;
  hmac(key: Uint8Array, data: Uint8Array): Buffer;
}

const ADDON_PATH = ['native', 'build', 'Release', 'flashback_native.node'];

let loaded: Addon | undefined;

/** The same code runs from src/core/util (source) and dist/src/core/util (compiled): find the repo root. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export function addon(): Addon {
  if (loaded === undefined) {
    const path = join(repoRoot(), ...ADDON_PATH);
    try {
      loaded = createRequire(import.meta.url)(path) as Addon;
    } catch (err) {
      throw new Error(`cannot load the native addon ${path} (run "npm run build:native")`, { cause: err });
    }
  }
  return loaded;
}
