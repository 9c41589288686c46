/**
 * Real file systems for repository tests: exFAT (exfatprogs + exfat-fuse on a loop device), FAT32
 * (dosfstools + fusefat on an image file) and fixed-size tmpfs (a device that fills up). Needs root and
 * /dev/fuse; `deviceSupport` says why not, and tests fail instead of skipping when CI=true.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type DeviceKind = 'exfat' | 'fat32' | 'tmpfs';

export interface Device {
  dir: string;
  kind: DeviceKind;
  /** unmount (the "device" is pulled out); the image survives for remount() */
  unmount(): void;
  remount(): void;
  cleanup(): void;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function deviceSupport(kind: DeviceKind): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount file systems';
  if (kind !== 'tmpfs' && !existsSync('/dev/fuse')) return 'needs /dev/fuse';
  const tools: Record<DeviceKind, string[]> = { exfat: ['mkfs.exfat', 'mount.exfat-fuse', 'losetup'], fat32: ['mkfs.vfat', 'fusefat'], tmpfs: ['mount'] };
  const missing = tools[kind].filter((t) => !has(t));
  return missing.length ? `missing ${missing.join(', ')} (run scripts/install-test-deps.sh)` : undefined;
}

function unmountDir(dir: string): void {
  for (let i = 0; i < 50; i++) {
    const r = spawnSync('umount', [dir]);
    if (r.status === 0 || !isMounted(dir)) return;
    spawnSync('umount', ['-l', dir]);
    if (!isMounted(dir)) return;
    execFileSync('sleep', ['0.1']);
  }
}

/** From /proc/mounts: `mountpoint` cannot stat a FUSE mount whose daemon died, and would say "not mounted". */
export function isMounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

export function makeDevice(kind: DeviceKind, sizeMiB: number): Device {
  const base = mkdtempSync(join(tmpdir(), `fb-${kind}-`));
  const dir = join(base, 'mnt');
  const img = join(base, 'device.img');
  execFileSync('mkdir', ['-p', dir]);
  let loop: string | undefined;
  const mount = () => {
    if (kind === 'tmpfs') execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
    else if (kind === 'exfat') {
      loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
      execFileSync('mount.exfat-fuse', [loop, dir], { stdio: 'ignore' });
    } else execFileSync('fusefat', ['-o', 'rw+', img, dir], { stdio: 'ignore' });
  };
  if (kind !== 'tmpfs') {
    execFileSync('truncate', ['-s', `${sizeMiB}M`, img]);
    if (kind === 'exfat') execFileSync('mkfs.exfat', [img], { stdio: 'ignore' });
    else execFileSync('mkfs.vfat', ['-F', '32', img], { stdio: 'ignore' });
  }
  mount();
  const unmount = () => {
    // fusefat writes the image after umount returns: a remount before its daemon exits reads a stale image
    const daemon = fuseDaemonPid(dir);
    if (isMounted(dir)) unmountDir(dir);
    // (up to 60 s: on a loaded machine writing a 128 MiB image took more than 30 s once)
    for (let i = 0; daemon !== undefined && alive(daemon) && i < 600; i++) execFileSync('sleep', ['0.1']);
    if (loop) {
      spawnSync('losetup', ['-d', loop]);
      loop = undefined;
    }
  };
  return {
    dir,
    kind,
    unmount,
    remount: mount,
    cleanup: () => {
      unmount();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The FUSE daemon serving `dir`, so a test can kill it: the closest thing to pulling the stick out. */
export function fuseDaemonPid(dir: string): number | undefined {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  const line = out.split('\n').find((l) => l.includes(dir) && /exfat|fusefat/.test(l));
  return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
}
