/**
 * Devices in rotation (docs/rotation.md): device add/list/rename/remove, discovery by repository id, run and
 * status, through the real CLI on real repositories. "Devices" are directories under temp discovery roots
 * that appear, move and disappear while the tests run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCli, spawnCli } from './helpers/cli.js';
import { PASSWORD, tempDir } from './helpers/repo.js';

interface Env {
  dir: string;
  media: string;
  src: string;
  configFile: string;
  env: Record<string, string>;
  run(args: string[], extra?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
}

function setup(t: { after: (fn: () => void) => void }, extraConfig = ''): Env {
  const dir = tempDir('fb-rot-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const media = join(dir, 'media');
  const src = join(dir, 'src');
  mkdirSync(media);
  mkdirSync(join(dir, 'mnt'));
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'first file\n');
  const pw = join(dir, 'password');
  writeFileSync(pw, PASSWORD + '\n');
  const configFile = join(dir, 'config.toml');
  writeFileSync(
    configFile,
    `# test configuration\n[backup]\npaths = ["${src}"]\n[retention]\nkeep_last = 2\n[scrub]\nmax_duration = "1m"\n` +
      `[discovery]\nroots = ["${media}/*", "${dir}/mnt/*"]\n${extraConfig}`,
  );
  const env = { FLASHBACK_CONFIG: configFile, XDG_STATE_HOME: join(dir, 'state'), FLASHBACK_PASSWORD_FILE: pw, FLASHBACK_TEST_KDF_N: '1024', TZ: 'UTC' };
  return { dir, media, src, configFile, env, run: (args, extra = {}) => runCli(args, { env: { ...env, ...extra } }) };
}

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>, code = 0): Promise<string> {
  const r = await p;
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout + r.stderr;
}

async function addDevice(e: Env, name: string, mount = name): Promise<string> {
  mkdirSync(join(e.media, mount), { recursive: true });
  await ok(e.run(['device', 'add', name, join(e.media, mount)]));
  return JSON.parse((await e.run(['--json', 'device', 'list'])).stdout).find((d: { name: string }) => d.name === name).id;
}

async function status(e: Env, extra: Record<string, string> = {}) {
  const r = await e.run(['--json', 'status'], extra);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    devices: { name: string; present: boolean; path: string | null; last_backup: string | null; overdue: boolean; snapshots: number | null; scrub: { packs: number; total_packs: number } | null; last_error: { step: string; message: string } | null; used_bytes: number | null; free_bytes: number | null }[];
    next: string | null;
    unregistered: { path: string }[];
  };
}

function snapshotCount(repo: string): number {
  return readdirSync(join(repo, 'snapshots')).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;
}

/** every file below dir with its size and mtime: proof that nothing was written */
function fingerprint(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort().map((f) => {
    const st = statSync(join(dir, f));
    return `${f} ${st.isDirectory() ? 'd' : st.size} ${st.mtimeMs}`;
  });
}

test('device add: first device, a new one in the family, an existing repository; wrong family, duplicates refused; rename, remove', async (t) => {
  const e = setup(t);
  const blue = await addDevice(e, 'blue');
  assert.ok(existsSync(join(e.media, 'blue', 'config')), 'an empty directory gets the repository itself');
  // a stick holding other files gets PATH/flashback
  mkdirSync(join(e.media, 'RED'));
  writeFileSync(join(e.media, 'RED', 'holiday.jpg'), 'x');
  const out = await ok(e.run(['device', 'add', 'red', join(e.media, 'RED')]));
  assert.match(out, /in the family of blue/);
  assert.ok(existsSync(join(e.media, 'RED', 'flashback', 'config')));
  const list = JSON.parse((await e.run(['--json', 'device', 'list'])).stdout);
  assert.deepEqual(list.map((d: { name: string }) => d.name), ['blue', 'red']);
  assert.equal(list[0].family, list[1].family, 'one family: same chunker and blob ids');
  assert.notEqual(list[0].id, list[1].id);

  // an existing repository of the family is registered as it is
  const green = join(e.dir, 'mnt', 'GREEN');
  await ok(runCli(['-r', green, 'init', '--copy-secrets-from', join(e.media, 'blue')], { env: { ...e.env, FLASHBACK_FROM_PASSWORD: PASSWORD } }));
  const before = fingerprint(green);
  await ok(e.run(['device', 'add', 'green', green]));
  assert.deepEqual(fingerprint(green), before, 'registering writes nothing to the repository');
  // another family, a duplicate name, the same repository twice, a bad name
  const foreign = join(e.dir, 'foreign');
  await ok(runCli(['-r', foreign, 'init'], { env: e.env }));
  let r = await e.run(['device', 'add', 'other', foreign]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /belongs to another family than the registered devices\n {2}hint: /);
  r = await e.run(['device', 'add', 'blue', join(e.dir, 'empty')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /a device named "blue" is already registered/);
  r = await e.run(['device', 'add', 'again', green]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already registered as "green"/);
  r = await e.run(['device', 'add', 'bad/name', join(e.dir, 'empty')]);
  assert.equal(r.code, 2);
  assert.equal(existsSync(join(e.dir, 'empty')), false, 'nothing was created for a refused add');

  // rename and remove edit only their tables
  await ok(e.run(['device', 'rename', 'green', 'offsite']));
  r = await e.run(['device', 'rename', 'offsite', 'blue']);
  assert.equal(r.code, 1);
  await ok(e.run(['device', 'remove', 'red']));
  const text = readFileSync(e.configFile, 'utf8');
  assert.ok(text.startsWith('# test configuration\n[backup]'), 'the user part of the file is kept');
  assert.match(text, /\[devices\.offsite\]/);
  assert.doesNotMatch(text, /\[devices\.red\]|\[devices\.green\]/);
  assert.ok(existsSync(join(e.media, 'RED', 'flashback', 'config')), 'remove leaves the repository alone');
  const names = JSON.parse((await e.run(['--json', 'device', 'list'])).stdout).map((d: { name: string; id: string }) => [d.name, d.id]);
  assert.deepEqual(names.map((n: string[]) => n[0]), ['blue', 'offsite']);
  assert.equal(names[0][1], blue);
  r = await e.run(['device', 'remove', 'nosuch']);
  assert.equal(r.code, 2);

  // a new device needs a registered one connected, to join the family
  renameSync(join(e.media, 'blue'), join(e.dir, 'away-blue'));
  renameSync(green, join(e.dir, 'away-green'));
  r = await e.run(['device', 'add', 'purple', join(e.dir, 'purple')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no registered device is connected.*\n {2}hint: plug in one of: blue, offsite/);
});

test('run on two devices: backup, retention, prune, scrub, record; found by id wherever mounted; unregistered and copied repositories are never written', async (t) => {
  const e = setup(t);
  await addDevice(e, 'blue');
  await addDevice(e, 'red');
  // an unregistered repository under a root, and one of the same family
  const stranger = join(e.media, 'stranger');
  await ok(runCli(['-r', stranger, 'init'], { env: e.env }));
  const cousin = join(e.dir, 'mnt', 'cousin', 'flashback');
  await ok(runCli(['-r', cousin, 'init', '--copy-secrets-from', join(e.media, 'blue')], { env: { ...e.env, FLASHBACK_FROM_PASSWORD: PASSWORD } }));
  const untouched = [fingerprint(stranger), fingerprint(cousin)];

  let out = await ok(e.run(['run']));
  assert.match(out, /blue: done — you can remove it now/);
  assert.match(out, /red: done — you can remove it now/);
  assert.match(out, /summary:\n {2}blue {2}ok, snapshot [0-9a-f]{8}/);
  for (let i = 0; i < 2; i++) {
    writeFileSync(join(e.src, `new${i}.txt`), `round ${i}\n`);
    await ok(e.run(['run']));
  }
  for (const d of ['blue', 'red']) {
    const repo = join(e.media, d);
    assert.equal(snapshotCount(repo), 2, `${d}: keep_last = 2 applied`);
    assert.equal(readdirSync(join(repo, 'status')).length, 1, `${d}: one device note`);
    assert.ok(readdirSync(join(repo, 'scrub')).length >= 1, `${d}: scrub records`);
    assert.deepEqual(readdirSync(join(repo, 'locks')), [], `${d}: locks released`);
    await ok(runCli(['-r', repo, 'check', '--read-data'], { env: e.env }));
  }
  const st = await status(e);
  for (const d of st.devices) {
    assert.equal(d.present, true);
    assert.equal(d.snapshots, 2);
    assert.equal(d.overdue, false);
    assert.equal(d.last_error, null);
    assert.ok(d.scrub && d.scrub.packs === d.scrub.total_packs && d.scrub.total_packs > 0, 'the small repository was scrubbed whole');
    assert.ok(d.used_bytes! > 0 && d.free_bytes! > 0);
  }
  assert.deepEqual(st.unregistered.map((u) => u.path).sort(), [cousin, stranger].sort());
  assert.deepEqual([fingerprint(stranger), fingerprint(cousin)], untouched, 'unregistered repositories were never written');

  // the device is mounted elsewhere: recognised by its repository id
  const moved = join(e.dir, 'mnt', 'SOMEWHERE', 'flashback');
  mkdirSync(join(e.dir, 'mnt', 'SOMEWHERE'));
  renameSync(join(e.media, 'red'), moved);
  writeFileSync(join(e.src, 'later.txt'), 'later\n');
  out = await ok(e.run(['run', 'red']));
  assert.match(out, new RegExp(`red: connected at ${moved}`));
  assert.equal(snapshotCount(moved), 2);
  assert.equal((await status(e)).devices.find((d) => d.name === 'red')!.path, moved);

  // a copy of a device (same id at two places): neither is written
  const copy = join(e.media, 'red-copy');
  cpSync(moved, copy, { recursive: true });
  const before = [fingerprint(moved), fingerprint(copy)];
  const r = await e.run(['run', 'red']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /red: FAILED \(open\): device red .* was found at 2 places/);
  assert.deepEqual([fingerprint(moved), fingerprint(copy)], before);
  assert.deepEqual([fingerprint(stranger), fingerprint(cousin)], untouched);
});

test('status with an injected clock: fresh, overdue, never used; with no device connected it uses the host state', async (t) => {
  const e = setup(t, '[defaults]\nrefresh = "7d"\n');
  await addDevice(e, 'blue');
  await addDevice(e, 'red');
  await addDevice(e, 'green');
  // red was refreshed ten days ago, blue an hour ago; green never
  await ok(e.run(['run', 'red'], { FLASHBACK_NOW: '2024-05-01T10:00:00Z' }));
  await ok(e.run(['run', 'blue'], { FLASHBACK_NOW: '2024-05-11T09:00:00Z' }));
  // unplug everything
  renameSync(e.media, join(e.dir, 'unplugged'));
  mkdirSync(e.media);
  const now = { FLASHBACK_NOW: '2024-05-11T10:01:00Z' }; // the injected clock ticks: the runs took a few seconds
  let r = await e.run(['run', 'blue'], now);
  assert.equal(r.code, 1, 'a device named on the command line that is not connected is an error');
  assert.match(r.stdout, /blue +not connected/);
  r = await e.run(['run', 'nosuch'], now);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no device named "nosuch" is registered\n  hint: registered devices: blue, red, green/);
  const st = await status(e, now);
  const by = Object.fromEntries(st.devices.map((d) => [d.name, d]));
  assert.equal(by.blue.present, false);
  assert.equal(by.blue.overdue, false);
  assert.equal(by.blue.snapshots, 1);
  assert.match(by.blue.last_backup!, /^2024-05-11T09:00/);
  assert.equal(by.red.overdue, true);
  assert.match(by.red.last_backup!, /^2024-05-01T10:00/);
  assert.equal(by.green.overdue, true);
  assert.equal(by.green.last_backup, null);
  assert.equal(st.next, 'green', 'never used first');
  const text = await ok(e.run(['status'], now));
  assert.match(text, /blue +- +1 hour ago +in 6 days +1 /);
  assert.match(text, /red +- +10 days ago +OVERDUE +1 /);
  assert.match(text, /green +- +never +OVERDUE +- /);
  assert.match(text, /plug in next: green \(never used, overdue\)/);
  // with green refreshed, red is next
  renameSync(join(e.dir, 'unplugged', 'green'), join(e.media, 'green'));
  await ok(e.run(['run'], now));
  renameSync(join(e.media, 'green'), join(e.dir, 'unplugged', 'green'));
  const text2 = await ok(e.run(['status'], { FLASHBACK_NOW: '2024-05-12T10:01:00Z' }));
  assert.match(text2, /plug in next: red \(last backup 11 days ago, overdue\)/);
  // no device at all registered
  const empty = await ok(e.run(['status', '--config', join(e.dir, 'none.toml')]));
  assert.match(empty, /no device is registered/);
  const none = await ok(e.run(['run']));
  assert.match(none, /no registered device is connected; nothing to do/);
});

test('a second laptop (another state directory) learns the last backup from the device note', async (t) => {
  const e = setup(t);
  await addDevice(e, 'blue');
  await ok(e.run(['run'], { FLASHBACK_NOW: '2024-05-01T10:00:00Z' }));
  const laptop2 = { XDG_STATE_HOME: join(e.dir, 'state2'), FLASHBACK_NOW: '2024-05-03T10:00:00Z' };
  const unplugged = join(e.dir, 'unplugged');
  renameSync(join(e.media, 'blue'), unplugged);
  let st = await status(e, laptop2);
  assert.equal(st.devices[0].last_backup, null, 'laptop 2 has never seen the device');
  renameSync(unplugged, join(e.media, 'blue'));
  st = await status(e, laptop2);
  assert.match(st.devices[0].last_backup!, /^2024-05-01T10:00/, 'learned from the device note');
  assert.equal(st.devices[0].snapshots, 1);
  // and keeps it when the device is gone again
  renameSync(join(e.media, 'blue'), unplugged);
  st = await status(e, laptop2);
  assert.match(st.devices[0].last_backup!, /^2024-05-01T10:00/);
  assert.equal(st.devices[0].present, false);
});

test('run: a failing device is recorded and the others still run (exit 1); after it is fixed the next run clears the error', async (t) => {
  const e = setup(t);
  await addDevice(e, 'blue');
  await addDevice(e, 'red');
  const locks = join(e.media, 'blue', 'locks');
  rmSync(locks, { recursive: true });
  writeFileSync(locks, 'not a directory'); // every lock fails: the device cannot be written
  const r = await e.run(['run']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /blue: FAILED \(backup\): /);
  assert.match(r.stdout, /red: done — you can remove it now/);
  assert.match(r.stdout, /blue +FAILED \(backup: /);
  assert.equal(snapshotCount(join(e.media, 'red')), 1);
  assert.equal(snapshotCount(join(e.media, 'blue')), 0);
  const st = await status(e);
  const blue = st.devices.find((d) => d.name === 'blue')!;
  assert.equal(blue.last_error?.step, 'backup');
  assert.equal(st.devices.find((d) => d.name === 'red')!.last_error, null);
  assert.match(await ok(e.run(['status'])), /blue: last run failed \(backup, just now\): /);
  rmSync(locks);
  mkdirSync(locks);
  await ok(e.run(['run', 'blue']));
  assert.equal((await status(e)).devices.find((d) => d.name === 'blue')!.last_error, null);
});

test('a device pulled out mid-backup: run goes on with the next device, exits 1; the device and the registry stay consistent', async (t) => {
  const e = setup(t);
  await addDevice(e, 'blue');
  await addDevice(e, 'red');
  // enough incompressible data for several packs, so that the device can go while packs are being written
  for (let i = 0; i < 6; i++) writeFileSync(join(e.src, `big${i}`), randomBytes(12 * 2 ** 20));
  const config = readFileSync(e.configFile, 'utf8');
  const blue = join(e.media, 'blue');
  const child = spawnCli(['run'], { env: e.env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  const packs = () => (readdirSync(join(blue, 'data'), { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => /[0-9a-f]{64}$/.test(f)).length;
  const deadline = Date.now() + 60_000;
  while (packs() < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  // pull it out: the directory goes, and a file takes its place so nothing can be recreated there
  const away = join(e.dir, 'pulled-out');
  renameSync(blue, away);
  writeFileSync(blue, '');
  const code = await exited;
  assert.equal(code, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
  assert.match(stderr, /blue: FAILED \(backup\): the device was removed or failed during backup .*\n  hint: the device was removed or failed; plug it in again and rerun/);
  assert.match(stdout, /red: done — you can remove it now/);
  assert.equal(snapshotCount(join(e.media, 'red')), 1, 'the other device was backed up');
  assert.equal(readFileSync(e.configFile, 'utf8'), config, 'the registry is untouched');
  const state = JSON.parse(readFileSync(join(e.dir, 'state', 'flashback', 'state.json'), 'utf8'));
  assert.equal(Object.keys(state.devices).length, 2);
  const st = await status(e);
  assert.equal(st.devices.find((d) => d.name === 'blue')!.last_error!.step, 'backup');
  assert.equal(st.devices.find((d) => d.name === 'blue')!.present, false);
  // plugged in again: the repository checks clean, and the next run finishes the job
  rmSync(blue);
  renameSync(away, blue);
  await ok(runCli(['-r', blue, 'check'], { env: e.env }));
  await ok(e.run(['run', 'blue']));
  assert.equal(snapshotCount(blue), 1);
  await ok(runCli(['-r', blue, 'check', '--read-data'], { env: e.env }));
  assert.equal((await status(e)).devices.find((d) => d.name === 'blue')!.last_error, null);
});
