/** The configuration file (docs/rotation.md §1): parsing, errors with file:line, `flashback config`, registry edits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/repo.js';
import { parseConfigText } from '../src/core/devices/config.js';
import { addDeviceText, removeDeviceText, renameDeviceText } from '../src/core/devices/registry.js';
import { configPath, statePath } from '../src/core/devices/paths.js';
import { FlashbackError } from '../src/core/errors/errors.js';

const ID1 = 'a'.repeat(64);
const ID2 = 'b'.repeat(64);
const FAM = 'f'.repeat(64);

function parseError(text: string): FlashbackError {
  try {
    parseConfigText(text, '/x/config.toml');
  } catch (err) {
    assert.ok(err instanceof FlashbackError);
    return err;
  }
  assert.fail('expected an error');
}

test('config: defaults, every section, units', () => {
  const d = parseConfigText('', 'f');
  assert.deepEqual(d.backup.paths, []);
  assert.equal(d.scrub.maxDuration, 600_000);
  assert.equal(d.defaults.refresh, 7 * 86_400_000);
  assert.deepEqual(d.discovery.roots, ['/media/$USER/*', '/run/media/$USER/*', '/mnt/*']);
  assert.equal(d.prune.maxUnused, '5%');
  const c = parseConfigText(
    `[backup]\npaths = ["~/Documents"]\nexclude = "*.tmp"\none_file_system = true\n[retention]\nkeep_daily = 7\nkeep_yearly = "unlimited"\nkeep_within = "1y6m"\n` +
      `[scrub]\nmax_duration = "1h30m"\n[defaults]\nrefresh = "2w"\n[password]\ncommand = "secret-tool lookup x y"\n` +
      `[devices.blue]\nid = "${ID1}"\nfamily = "${FAM}"\nrefresh = "30d"\n`,
    'f',
  );
  assert.deepEqual(c.backup.exclude, ['*.tmp']);
  assert.equal(c.backup.oneFileSystem, true);
  assert.equal(c.retention.daily, 7);
  assert.equal(c.retention.yearly, Infinity);
  assert.deepEqual(c.retention.within, { years: 1, months: 6, days: 0, hours: 0 });
  assert.equal(c.scrub.maxDuration, 90 * 60_000);
  assert.equal(c.defaults.refresh, 14 * 86_400_000);
  assert.equal(c.password.command, 'secret-tool lookup x y');
  assert.deepEqual(c.devices, [{ name: 'blue', id: ID1, family: FAM, path: undefined, refresh: 30 * 86_400_000, passwordCommand: undefined, passwordFile: undefined }]);
});

test('config: errors name file:line:column and give a hint', () => {
  let e = parseError('[backup]\npaths = ["/a"\n');
  assert.match(e.message, /^\/x\/config\.toml:3:\d+: /);
  assert.ok(e.hint);
  e = parseError('[backup]\npaths = ["/a"]\nexlude = ["x"]\n');
  assert.match(e.message, /^\/x\/config\.toml:3:1: unknown key "exlude" in \[backup\]/);
  assert.match(e.hint!, /exclude/);
  e = parseError('# c\n[retention]\nkeep_daily = -1\n');
  assert.match(e.message, /config\.toml:3:1: keep_daily must be a whole number/);
  e = parseError('[backups]\n');
  assert.match(e.message, /config\.toml:1:1: unknown section \[backups\]/);
  e = parseError('[defaults]\nrefresh = "7 days"\n');
  assert.match(e.message, /config\.toml:2:1: invalid duration refresh/);
  e = parseError(`[devices.blue]\nid = "${ID1}"\nfamily = "${FAM}"\n[devices.red]\nid = "${ID1}"\nfamily = "${FAM}"\n`);
  assert.match(e.message, /config\.toml:5:1: device red: the same repository id is registered twice/);
  e = parseError(`[devices.blue]\nid = "${ID1}"\nfamily = "${FAM}"\n[devices.red]\nid = "${ID2}"\nfamily = "${'e'.repeat(64)}"\n`);
  assert.match(e.message, /different families/);
  e = parseError('[prune]\nmax_unused = "lots"\n');
  assert.match(e.message, /config\.toml:2:1: invalid max_unused/);
});

test('config: paths follow XDG and FLASHBACK_CONFIG / FLASHBACK_STATE', () => {
  const env = { home: '/home/ann', user: 'ann', vars: {} as Record<string, string> };
  assert.equal(configPath(env), '/home/ann/.config/flashback/config.toml');
  assert.equal(statePath(env), '/home/ann/.local/state/flashback/state.json');
  env.vars = { XDG_CONFIG_HOME: '/c', XDG_STATE_HOME: '/s' };
  assert.equal(configPath(env), '/c/flashback/config.toml');
  assert.equal(statePath(env), '/s/flashback/state.json');
  env.vars = { XDG_CONFIG_HOME: 'relative', FLASHBACK_CONFIG: '/etc/fb.toml' };
  assert.equal(configPath(env), '/etc/fb.toml');
  assert.equal(configPath(env, '/given.toml'), '/given.toml');
  assert.equal(configPath({ ...env, vars: { XDG_CONFIG_HOME: 'relative' } }), '/home/ann/.config/flashback/config.toml', 'a relative XDG path is ignored');
});

test('registry edits keep comments and the rest of the file; refused when the tables cannot be edited safely', () => {
  const base = '# my settings\n[backup]\npaths = ["/home/ann"] # everything\n';
  let t = addDeviceText(base, 'f', { name: 'blue', id: ID1, family: FAM, path: '/media/ann/BLUE' });
  t = addDeviceText(t, 'f', { name: 'red', id: ID2, family: FAM, refresh: 30 * 86_400_000 });
  assert.ok(t.startsWith(base));
  assert.deepEqual(parseConfigText(t, 'f').devices.map((d) => [d.name, d.refresh]), [['blue', undefined], ['red', 30 * 86_400_000]]);
  t = t.replace('[devices.red]', '# the off-site one\n[devices.red] # comment');
  t = renameDeviceText(t, 'f', 'red', 'offsite', ID2);
  assert.match(t, /# the off-site one\n\[devices\.offsite\] # comment\n/);
  t = removeDeviceText(t, 'f', 'blue');
  assert.ok(t.startsWith(base));
  assert.deepEqual(parseConfigText(t, 'f').devices.map((d) => d.name), ['offsite']);
  const inline = `devices = { blue = { id = "${ID1}", family = "${FAM}" } }\n`;
  assert.throws(() => removeDeviceText(inline, 'f', 'blue'), /cannot edit the device tables/);
});

test('flashback config: path and effective configuration (text and --json); a broken file exits 1 with file:line', async (t) => {
  const dir = tempDir('fb-config-');
  t.after(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  const env = { XDG_CONFIG_HOME: join(dir, 'xdg'), XDG_STATE_HOME: join(dir, 'state') };
  let r = await runCli(['config'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`configuration file: ${dir}/xdg/flashback/config.toml \\(does not exist`));
  assert.match(r.stdout, /max_duration = "10m"/);
  assert.match(r.stdout, /refresh = "7d"/);
  assert.match(r.stdout, /roots = \[ "\/media\/\$USER\/\*"/);

  mkdirSync(join(dir, 'xdg', 'flashback'), { recursive: true });
  const file = join(dir, 'xdg', 'flashback', 'config.toml');
  writeFileSync(file, `[backup]\npaths = ["/srv"]\n[retention]\nkeep_last = 3\n[devices.blue]\nid = "${ID1}"\nfamily = "${FAM}"\n`);
  r = await runCli(['--json', 'config'], { env });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.config_file, file);
  assert.equal(j.exists, true);
  assert.equal(j.state_file, join(dir, 'state', 'flashback', 'state.json'));
  assert.deepEqual(j.config.backup.paths, ['/srv']);
  assert.equal(j.config.retention.keep_last, 3);
  assert.deepEqual(j.config.devices.blue, { id: ID1, family: FAM, refresh: '7d' });

  const other = join(dir, 'other.toml');
  writeFileSync(other, '[scrub]\nmax_duration = "5m"\n');
  r = await runCli(['config', '--config', other], { env });
  assert.match(r.stdout, new RegExp(`configuration file: ${other}\\n`));
  assert.match(r.stdout, /max_duration = "5m"/);
  r = await runCli(['config'], { env: { ...env, FLASHBACK_CONFIG: other } });
  assert.match(r.stdout, /max_duration = "5m"/);

  writeFileSync(file, '[backup]\npaths = ["/srv"]\nfollow_symlinks = "yes"\n');
  for (const cmd of [['config'], ['status'], ['run'], ['device', 'list']]) {
    r = await runCli(cmd, { env });
    assert.equal(r.code, 1, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`flashback: ${file}:3:1: follow_symlinks must be true or false\\n  hint: `));
  }
  assert.equal(readFileSync(file, 'utf8'), '[backup]\npaths = ["/srv"]\nfollow_symlinks = "yes"\n', 'nothing rewrote the file');
});
