/**
 * watch: a real exFAT stick (loop image + exfat-fuse) registered, then unplugged; watch runs it within seconds
 * of each plug-in, once per plug-in, survives it being pulled out mid-run, and never touches an unregistered
 * repository. install-service writes a unit that runs watch.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, spawnCli } from './helpers/cli.js';
import { PASSWORD, tempDir } from './helpers/repo.js';
import { deviceSupport, fuseDaemonPid, makeDevice } from './helpers/devices.js';
import { prng } from './helpers/fixtures.js';

function supported(t: TestContext): boolean {
  const why = deviceSupport('exfat');
  if (!why) return true;
  if (process.env.CI) assert.fail(`cannot test exfat in CI: ${why}`);
  t.skip(why);
  return false;
}

function fingerprint(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort().map((f) => {
    const st = statSync(join(dir, f));
    return `${f} ${st.isDirectory() ? 'd' : st.size} ${st.mtimeMs}`;
  });
}

const snapshots = (repo: string) => readdirSync(join(repo, 'snapshots')).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('watch runs a registered stick when it is plugged in, once per plug-in, survives a pull-out mid-run, ignores others', async (t) => {
  if (!supported(t)) return;
  const dir = tempDir('fb-watch-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dev = makeDevice('exfat', 128);
  t.after(() => dev.cleanup());
  const media = join(dir, 'media');
  const src = join(dir, 'src');
  mkdirSync(join(media, 'OTHER'), { recursive: true });
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'first\n');
  const pw = join(dir, 'password');
  writeFileSync(pw, PASSWORD + '\n');
  const configFile = join(dir, 'config.toml');
  const base = join(dev.dir, '..');
  writeFileSync(configFile, `[backup]\npaths = ["${src}"]\n[retention]\nkeep_last = 5\n[scrub]\nmax_duration = "1m"\n[password]\nfile = "${pw}"\n[discovery]\nroots = ["${base}/*", "${media}/*"]\n`);
  const env = { FLASHBACK_CONFIG: configFile, XDG_STATE_HOME: join(dir, 'state'), FLASHBACK_TEST_KDF_N: '1024', FLASHBACK_CACHE_DIR: join(dir, 'cache') };
  const add = await runCli(['device', 'add', 'stick', dev.dir], { env });
  assert.equal(add.code, 0, add.stderr);
  // a repository nobody registered, under a discovery root
  const other = join(media, 'OTHER', 'flashback');
  assert.equal((await runCli(['-r', other, 'init'], { env: { ...env, FLASHBACK_PASSWORD_FILE: pw } })).code, 0);
  const untouched = fingerprint(other);
  dev.unmount();

  const child = spawnCli(['watch', '--interval', '200ms', '--settle', '400ms', '--max-runs', '3'], { env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  t.after(() => child.kill('SIGKILL'));
  const count = (re: RegExp) => (stdout.match(new RegExp(re, 'g')) ?? []).length;
  await until('watch to start', () => /watching for stick/.test(stdout), 20_000);
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(count(/connected at/), 0, 'nothing is plugged in yet');

  // 1. plugged in: one run within seconds
  const t0 = Date.now();
  dev.remount();
  await until('the first run', () => count(/stick: done — you can remove it now/) === 1);
  assert.ok(Date.now() - t0 < 30_000, `ran ${Date.now() - t0} ms after the plug-in`);
  assert.equal(snapshots(dev.dir), 1);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(count(/stick: done/), 1, 'still plugged in: no second run');

  // 2. pulled out in the middle of the next run: recorded as failed, watch goes on
  dev.unmount();
  await until('the removal', () => /stick: removed/.test(stdout));
  for (let i = 0; i < 12; i++) writeFileSync(join(src, `big-${i}.bin`), prng(`w${i}`, 8 * 1024 * 1024));
  dev.remount();
  await until('the second run to back up', () => (stdout.match(/stick: backing up/g) ?? []).length === 2);
  const pid = fuseDaemonPid(dev.dir);
  assert.ok(pid, 'found the FUSE daemon');
  process.kill(pid!, 'SIGKILL');
  await until('the failure', () => /stick: FAILED/.test(stdout + stderr));
  dev.unmount();

  // 3. plugged in again: the third run completes, and the repository is whole
  dev.remount();
  const code = await exited;
  assert.equal(code, 0, stderr);
  assert.equal(count(/stick: done — you can remove it now/), 2, stdout);
  assert.equal(snapshots(dev.dir), 2);
  const check = await runCli(['-r', dev.dir, 'check', '--read-data'], { env: { ...env, FLASHBACK_PASSWORD_FILE: pw } });
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.deepEqual(fingerprint(other), untouched, 'the unregistered repository was never written');
  const status = JSON.parse((await runCli(['--json', 'status'], { env })).stdout);
  assert.equal(status.devices[0].last_error, null, 'the last run succeeded');
});

test('install-service writes a systemd user unit that runs watch (without enabling it on request)', async (t) => {
  const dir = tempDir('fb-svc-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.toml');
  writeFileSync(configFile, '[password]\ncommand = "secret-tool lookup flashback stick"\n');
  const r = await runCli(['install-service', '--no-enable', '--config', configFile], { env: { XDG_CONFIG_HOME: dir } });
  assert.equal(r.code, 0, r.stderr);
  const unit = readFileSync(join(dir, 'systemd', 'user', 'flashback-watch.service'), 'utf8');
  assert.match(unit, /^ExecStart=\S+node\S* \S+\/bin\/flashback watch --notify --config "[^"]+config\.toml"$/m);
  assert.match(unit, /WantedBy=default\.target/);
  assert.match(r.stdout, /wrote .*flashback-watch\.service/);
  assert.match(r.stdout, /not enabled \(--no-enable\)/);
  assert.match(r.stderr, /no device is registered/);
  const again = await runCli(['install-service', '--no-enable', '--config', configFile], { env: { XDG_CONFIG_HOME: dir } });
  assert.match(again.stdout, /kept .*flashback-watch\.service/);
});
