/**
 * Real file systems for tests, all in user space and all cleaned up even after failures:
 *  - exFAT: sparse image, mkfs.exfat, a loop device, exfat-fuse (mount.exfat-fuse refuses an image file
 *    when run as root: "Block device required"), fs type `fuseblk`;
 *  - FAT32: sparse image, mkfs.vfat -F 32, fusefat -o rw+ (its read-write mode), fs type `fuse.fusefat`;
 *    fusefat is slow and quadratic in directory size (600 entries in one directory take minutes, and at
 *    ~1000 its readdir loses entries), so keep directories on it small;
 *  - tmpfs of a fixed size: a device that fills up (ENOSPC).
 * The kernel here has no vfat/exfat driver, so FUSE is the only way. Needs root, /dev/fuse and the tools
 * from scripts/install-test-deps.sh; canMount() says why not, requireMount() skips locally and fails in CI.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

export type MountKind = 'exfat' | 'fat32' | 'tmpfs';

export interface MountedFs {
  kind: MountKind;
  /** the mount point: the root of the "device" */
  dir: string;
  /** the image file (exfat, fat32) */
  image?: string;
  /** the file system type in /proc/self/mountinfo: fuseblk, fuse.fusefat or tmpfs; undefined when not mounted */
  fsType(): string | undefined;
  /** pid of the FUSE daemon serving dir (kill it -9 to pull the device out mid-write) */
  daemonPid(): number | undefined;
  /** unmount and wait until the FUSE daemon has flushed and exited; the image survives */
  unmount(): Promise<void>;
  /** mount the same image again (after unmount(), or after the daemon was killed) */
  remount(): Promise<void>;
  /** unmount, detach the loop device, delete the image and the directories; safe to call twice */
  cleanup(): Promise<void>;
}

const TOOLS: Record<MountKind, string[]> = {
  exfat: ['mkfs.exfat', 'losetup', 'mount.exfat-fuse', 'umount'],
  fat32: ['mkfs.vfat', 'fusefat', 'umount'],
  tmpfs: ['mount', 'umount'],
};

function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  return dirs.filter((d) => d.startsWith('/')).map((d) => join(d, cmd)).find((p) => existsSync(p));
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(which(cmd) ?? cmd, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}, signal ${r.signal}`}): ${r.stderr.trim()}`);
  return r.stdout;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let probed: string | undefined | null = null;
/** Can this process mount at all (root with CAP_SYS_ADMIN)? Probed once with a tiny tmpfs. */
function mountProbe(): string | undefined {
  if (probed !== null) return probed;
  const dir = mkdtempSync(join(tmpdir(), 'fb-probe-'));
  const r = spawnSync(which('mount') ?? 'mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status === 0) spawnSync(which('umount') ?? 'umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  probed = r.status === 0 ? undefined : `cannot mount (${(r.stderr || r.error?.message || '').trim()})`;
  return probed;
}

/** Whether `kind` can be mounted here, and if not, why. */
export function canMount(kind: MountKind): { ok: boolean; reason: string } {
  const no = (reason: string) => ({ ok: false, reason });
  if (process.platform !== 'linux') return no('needs Linux');
  if (process.getuid?.() !== 0) return no('needs root to mount file systems');
  const missing = TOOLS[kind].filter((t) => !which(t));
  if (missing.length) return no(`missing ${missing.join(', ')} (run scripts/install-test-deps.sh as root)`);
  if (kind !== 'tmpfs') {
    if (!existsSync('/dev/fuse')) return no('needs /dev/fuse');
    if (!/\bfuse\n/.test(readFileSync('/proc/filesystems', 'utf8') + '\n')) return no('the kernel has no FUSE');
  }
  if (kind === 'exfat' && !existsSync('/dev/loop-control')) return no('needs loop devices (/dev/loop-control)');
  const probe = mountProbe();
  return probe ? no(probe) : { ok: true, reason: '' };
}

/** For tests: true if `kind` can be mounted; otherwise skips the test, or fails it when CI is set. */
export function requireMount(t: TestContext, kind: MountKind): boolean {
  const { ok, reason } = canMount(kind);
  if (ok) return true;
  if (process.env.CI) assert.fail(`cannot test ${kind} in CI: ${reason} (skips are failures in CI)`);
  t.skip(reason);
  return false;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The type of the file system mounted exactly at dir (from /proc/self/mountinfo; works for dead FUSE mounts). */
export function mountFsType(dir: string): string | undefined {
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep > 4 && unescapeMount(f[4]) === dir) type = f[sep + 1]; // the last (topmost) mount wins
  }
  return type;
}

/** The FUSE daemon whose command line names `arg` (its mount point): [pid, program]. Zombies have no cmdline. */
function findDaemon(arg: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    const prog = argv[0]?.split('/').pop() ?? '';
    if (/^(mount\.exfat-fuse|exfat-fuse|fusefat)$/.test(prog) && argv.includes(arg)) return Number(name);
  }
  return undefined;
}

function alive(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').includes(dir);
  } catch {
    return false;
  }
}

/** Unmounts dir (retrying while busy, lazily as a last resort) and waits for its FUSE daemon to exit. */
function unmountSync(dir: string, pid: number | undefined): void {
  for (let i = 0; mountFsType(dir) !== undefined; i++) {
    const r = spawnSync(which('umount') ?? 'umount', i < 50 ? [dir] : ['-l', dir], { encoding: 'utf8' });
    if (r.status !== 0) sleepMs(100);
    if (i > 60) throw new Error(`cannot unmount ${dir}: ${r.stderr.trim()}`);
  }
  if (pid === undefined) return;
  // fusefat writes the image after the unmount returns (about 2 s for a 64 MiB image)
  for (let i = 0; alive(pid, dir); i++) {
    if (i === 300) process.kill(pid, 'SIGKILL'); // 30 s: our own daemon is stuck
    if (i > 350) throw new Error(`FUSE daemon ${pid} for ${dir} does not exit`);
    sleepMs(100);
  }
}

function detachLoop(loop: string): void {
  for (let i = 0; i < 50; i++) {
    if (spawnSync(which('losetup') ?? 'losetup', ['-d', loop]).status === 0) return;
    if (!run('losetup', ['-l', '-n', '-O', 'NAME']).split('\n').includes(loop)) return;
    sleepMs(100);
  }
}

const live = new Set<() => void>();
let exitHook = false;

function makeMount(kind: MountKind, sizeMiB: number): MountedFs {
  if (!exitHook) {
    exitHook = true; // last line of defence: a test that forgot cleanup() (or crashed) leaves no mount behind
    process.on('exit', () => live.forEach((c) => { try { c(); } catch { /* best effort */ } }));
  }
  const base = mkdtempSync(join(tmpdir(), `fb-mnt-${kind}-`));
  const dir = join(base, 'mnt');
  const image = kind === 'tmpfs' ? undefined : join(base, 'device.img');
  mkdirSync(dir);
  let loop: string | undefined;
  let pid: number | undefined;
  const mount = (): void => {
    if (kind === 'tmpfs') run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
    else if (kind === 'exfat') {
      loop = run('losetup', ['--find', '--show', image!]).trim();
      run('mount.exfat-fuse', [loop, dir]);
    } else run('fusefat', ['-o', 'rw+', image!, dir]);
    pid = kind === 'tmpfs' ? undefined : findDaemon(dir);
  };
  const unmountAll = (): void => {
    unmountSync(dir, pid ?? (kind === 'tmpfs' ? undefined : findDaemon(dir)));
    pid = undefined;
    if (loop) detachLoop(loop);
    loop = undefined;
  };
  const cleanupSync = (): void => {
    live.delete(cleanupSync);
    unmountAll();
    rmSync(base, { recursive: true, force: true });
  };
  live.add(cleanupSync);
  try {
    if (image) {
      const fd = openSync(image, 'w');
      ftruncateSync(fd, sizeMiB * 1024 * 1024); // sparse: costs no disk space until written
      closeSync(fd);
      if (kind === 'exfat') run('mkfs.exfat', [image]);
      else run('mkfs.vfat', ['-F', '32', image]);
    }
    mount();
    if (mountFsType(dir) === undefined) throw new Error(`${kind} did not mount at ${dir}`);
  } catch (err) {
    cleanupSync();
    throw err;
  }
  return {
    kind,
    dir,
    image,
    fsType: () => mountFsType(dir),
    daemonPid: () => (pid !== undefined && alive(pid, dir) ? pid : findDaemon(dir)),
    unmount: async () => unmountAll(),
    remount: async () => {
      unmountAll();
      mount();
    },
    cleanup: async () => {
      if (live.has(cleanupSync)) cleanupSync();
    },
  };
}

/** A fresh exFAT file system of sizeMiB (at least 4) served by exfat-fuse. */
export async function makeExfat(sizeMiB = 64): Promise<MountedFs> {
  return makeMount('exfat', sizeMiB);
}

/** A fresh FAT32 file system of sizeMiB served read-write by fusefat. */
export async function makeFat32(sizeMiB = 64): Promise<MountedFs> {
  return makeMount('fat32', sizeMiB);
}

/** A tmpfs of exactly sizeMiB: writing more fails with ENOSPC. */
export async function makeTmpfs(sizeMiB: number): Promise<MountedFs> {
  return makeMount('tmpfs', sizeMiB);
}
