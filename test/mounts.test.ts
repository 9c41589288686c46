/** The mount helpers themselves: real exFAT, FAT32 and tmpfs mounts that work, fill up, and always go away. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeExfat, makeFat32, makeTmpfs, mountFsType, requireMount, type MountedFs } from './helpers/mounts.js';

const MiB = 1024 * 1024;

function statfsType(dir: string): string {
  return spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
}

/** Names like the repository's: 64 hex digits. */
function hexName(i: number): string {
  return createHash('sha256').update(String(i)).digest('hex');
}

/** Writes a 5 MiB file and `files` small files in one directory, reads everything back. */
function exercise(dir: string, files: number): void {
  const big = randomBytes(5 * MiB);
  writeFileSync(join(dir, 'big.bin'), big);
  assert.ok(readFileSync(join(dir, 'big.bin')).equals(big), '5 MiB file reads back');
  mkdirSync(join(dir, 'many'));
  for (let i = 0; i < files; i++) writeFileSync(join(dir, 'many', hexName(i)), `file ${i}\n`);
  const names = readdirSync(join(dir, 'many'));
  assert.equal(names.length, files, `${files} entries listed`);
  assert.equal(new Set(names).size, files);
  for (let i = 0; i < files; i++) assert.equal(readFileSync(join(dir, 'many', hexName(i)), 'utf8'), `file ${i}\n`);
}

async function gone(m: MountedFs): Promise<void> {
  await m.cleanup();
  assert.equal(mountFsType(m.dir), undefined, 'unmounted');
  assert.equal(existsSync(dirname(m.dir)), false, 'image and directories removed');
  const loops = spawnSync('losetup', ['-l', '-n', '-O', 'BACK-FILE'], { encoding: 'utf8' }).stdout;
  if (m.image) assert.ok(!loops.includes(m.image), 'loop device detached');
  await m.cleanup(); // twice is harmless
}

test('exFAT via exfat-fuse: 5 MiB file, 3000 files in one directory, unmount', async (t) => {
  if (!requireMount(t, 'exfat')) return;
  const m = await makeExfat(64);
  t.after(() => m.cleanup());
  assert.equal(m.fsType(), 'fuseblk');
  assert.equal(statfsType(m.dir), 'fuseblk');
  assert.ok(m.daemonPid(), 'the FUSE daemon is found');
  exercise(m.dir, 3000);
  await gone(m);
});

test('FAT32 via fusefat (rw+): 5 MiB file, 150 files in one directory, durable across remount', async (t) => {
  if (!requireMount(t, 'fat32')) return;
  const m = await makeFat32(64);
  t.after(() => m.cleanup());
  assert.equal(m.fsType(), 'fuse.fusefat');
  assert.equal(statfsType(m.dir), 'fuseblk'); // statfs reports the FUSE magic number
  assert.ok(m.daemonPid(), 'the FUSE daemon is found');
  exercise(m.dir, 150); // fusefat is quadratic in directory size: 3000 entries would take hours
  const sum = createHash('sha256').update(readFileSync(join(m.dir, 'big.bin'))).digest('hex');
  await m.unmount(); // waits for fusefat to write the image back
  assert.equal(m.fsType(), undefined);
  await m.remount();
  assert.equal(createHash('sha256').update(readFileSync(join(m.dir, 'big.bin'))).digest('hex'), sum);
  assert.equal(readdirSync(join(m.dir, 'many')).length, 150);
  await gone(m);
});

test('tmpfs: 5 MiB file and 3000 files; a fixed-size tmpfs of 8 MiB fails a 10 MiB write with ENOSPC', async (t) => {
  if (!requireMount(t, 'tmpfs')) return;
  const roomy = await makeTmpfs(32); // 3000 small files take a 4 KiB page each
  t.after(() => roomy.cleanup());
  assert.equal(roomy.fsType(), 'tmpfs');
  assert.equal(statfsType(roomy.dir), 'tmpfs');
  exercise(roomy.dir, 3000);
  await gone(roomy);

  const small = await makeTmpfs(8);
  t.after(() => small.cleanup());
  assert.equal(small.fsType(), 'tmpfs');
  assert.throws(() => writeFileSync(join(small.dir, 'too-big.bin'), Buffer.alloc(10 * MiB, 1)), { code: 'ENOSPC' });
  assert.ok(statSync(join(small.dir, 'too-big.bin')).size <= 8 * MiB);
  await gone(small);
});

for (const kind of ['exfat', 'fat32'] as const) {
  test(`${kind}: the FUSE daemon killed (device pulled out): remount works and cleanup still unmounts`, async (t) => {
    if (!requireMount(t, kind)) return;
    const m = kind === 'exfat' ? await makeExfat(32) : await makeFat32(40);
    t.after(() => m.cleanup());
    const fd = openSync(join(m.dir, 'synced.txt'), 'w');
    writeSync(fd, 'on the device\n');
    fsyncSync(fd);
    closeSync(fd);
    await m.unmount(); // a clean unmount flushes everything (fusefat keeps the FAT in memory until then)
    await m.remount();
    const pid = m.daemonPid();
    assert.ok(pid, 'the FUSE daemon is found');
    writeFileSync(join(m.dir, 'unsynced.txt'), 'maybe lost\n');
    process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.throws(() => readdirSync(m.dir), (e: NodeJS.ErrnoException) => ['ENOTCONN', 'ECONNABORTED'].includes(e.code ?? ''), 'a dead FUSE mount');
    assert.ok(m.fsType(), 'still listed as mounted');
    await m.remount();
    assert.equal(readFileSync(join(m.dir, 'synced.txt'), 'utf8'), 'on the device\n');
    process.kill(m.daemonPid()!, 'SIGKILL');
    await gone(m); // cleanup copes with a dead mount
  });
}
