/** Repositories on real exFAT and FAT32 file systems, a device that fills up, and a device pulled out mid-backup. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { makeRepo, backupUntilPacks, type TestRepo } from './helpers/repo.js';
import { deviceSupport, fuseDaemonPid, makeDevice, type DeviceKind } from './helpers/devices.js';
import { makeEverythingTree, prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';

function supported(t: TestContext, kind: DeviceKind): boolean {
  const why = deviceSupport(kind);
  if (!why) return true;
  if (process.env.CI) assert.fail(`cannot test ${kind} in CI: ${why}`);
  t.skip(why);
  return false;
}

/** A test repository whose repository directory lives on the device. */
async function repoOn(t: TestContext, dir: string): Promise<TestRepo> {
  const r = await makeRepo(false);
  t.after(() => r.cleanup());
  r.env.FLASHBACK_REPOSITORY = r.repo = join(dir, 'flashback');
  const init = await r.run(['init']);
  assert.equal(init.code, 0, init.stderr);
  return r;
}

function tmpFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...tmpFiles(join(dir, e.name)));
    else if (e.name.endsWith('.tmp')) out.push(join(dir, e.name));
  }
  return out;
}

test('a repository on a real exFAT file system: backup, scrub, restore of every kind of entry', async (t) => {
  if (!supported(t, 'exfat')) return;
  const dev = makeDevice('exfat', 256);
  t.after(() => dev.cleanup());
  const r = await repoOn(t, dev.dir);
  const src = join(r.dir, 'src');
  makeEverythingTree(src);
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  writeFileSync(join(src, 'hello.txt'), 'changed\n');
  assert.equal((await r.run(['backup', src])).code, 0);
  assert.equal((await r.run(['check', '--read-data'])).code, 0);
  const out = join(r.dir, 'out');
  const res = await r.run(['restore', `latest:${src}`, '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(compareTrees(src, out, { times: true, owner: true, xattrs: true }), []);
});

test('a repository on a real FAT32 file system (fusefat)', async (t) => {
  if (!supported(t, 'fat32')) return;
  const dev = makeDevice('fat32', 128);
  t.after(() => dev.cleanup());
  const r = await repoOn(t, dev.dir);
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'letter.txt'), 'Dear Ann\n');
  writeFileSync(join(src, 'photo.raw'), prng('photo', 3 * 1024 * 1024));
  assert.equal((await r.run(['backup', src])).code, 0);
  writeFileSync(join(src, 'docs', 'letter.txt'), 'Dear Ann, again\n');
  assert.equal((await r.run(['backup', src])).code, 0);
  assert.equal((await r.run(['check', '--read-data'])).code, 0);
  const out = join(r.dir, 'out');
  assert.equal((await r.run(['restore', `latest~1:${src}`, '--target', out])).code, 0);
  assert.deepEqual(compareTrees(src, out, { times: false }).filter((d) => !d.includes('letter.txt')), []);
  // remount: what reached the device is durable
  dev.unmount();
  dev.remount();
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stderr);
});

test('a full device fails the backup cleanly and leaves the repository intact', async (t) => {
  if (!supported(t, 'tmpfs')) return;
  const dev = makeDevice('tmpfs', 24);
  t.after(() => dev.cleanup());
  const r = await repoOn(t, dev.dir);
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'small.txt'), 'fits\n');
  assert.equal((await r.run(['backup', src])).code, 0);
  for (let i = 0; i < 4; i++) writeFileSync(join(src, `big-${i}.bin`), prng(`full${i}`, 10 * 1024 * 1024));
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /no space left on the device/);
  assert.match(b.stderr, /hint: free space/);
  assert.deepEqual(tmpFiles(r.repo), [], 'no temporary file is left behind');
  const c = await r.run(['check']);
  assert.equal(c.code, 0, c.stderr);
  const snaps = JSON.parse((await r.run(['--json', 'snapshots'])).stdout);
  assert.equal(snaps.length, 1);
  const out = join(r.dir, 'out');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', out])).code, 0);
  assert.deepEqual(readdirSync(out), ['small.txt']);
});

test('a device pulled out mid-backup: clear error; after plugging it in again the repository checks clean and the rerun succeeds', async (t) => {
  if (!supported(t, 'exfat')) return;
  const dev = makeDevice('exfat', 256);
  t.after(() => dev.cleanup());
  const r = await repoOn(t, dev.dir);
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'first.txt'), 'first\n');
  assert.equal((await r.run(['backup', src])).code, 0);
  for (let i = 0; i < 24; i++) writeFileSync(join(src, `big-${i}.bin`), prng(`yank${i}`, 8 * 1024 * 1024)); // ~12 packs: the pull-out lands mid-backup
  const running = await backupUntilPacks(r, src, 3);
  const pid = fuseDaemonPid(dev.dir);
  assert.ok(pid, 'found the FUSE daemon');
  const code = await running.stop(() => process.kill(pid!, 'SIGKILL'));
  assert.equal(code, 1, running.stderr());
  assert.match(running.stderr(), /hint: the device was removed or failed/);
  dev.unmount();
  dev.remount();
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stderr + c.stdout);
  assert.equal(JSON.parse((await r.run(['--json', 'snapshots'])).stdout).length, 1);
  const rerun = await r.run(['backup', src]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const out = join(r.dir, 'out');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', out])).code, 0);
  assert.deepEqual(compareTrees(src, out, { times: true }), []);
});

test('--one-file-system does not descend into another file system mounted inside the source', async (t) => {
  if (!supported(t, 'tmpfs')) return;
  const r = await makeRepo();
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'mnt'), { recursive: true });
  writeFileSync(join(src, 'local.txt'), 'same file system\n');
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', join(src, 'mnt')]);
  t.after(() => {
    execFileSync('umount', [join(src, 'mnt')]);
    r.cleanup();
  });
  writeFileSync(join(src, 'mnt', 'other.txt'), 'another file system\n');
  assert.equal((await r.run(['backup', '--one-file-system', src])).code, 0);
  const ls = (await r.run(['ls', 'latest'])).stdout;
  assert.ok(ls.includes(`${src}/local.txt`));
  assert.ok(ls.includes(`${src}/mnt`), 'the mount point itself is kept');
  assert.ok(!ls.includes('other.txt'));
  assert.equal((await r.run(['backup', src])).code, 0);
  assert.ok((await r.run(['ls', 'latest'])).stdout.includes('other.txt'), 'without the option it is crossed');
});
