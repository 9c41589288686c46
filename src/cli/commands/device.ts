/** device add|list|remove|rename: the device registry in the configuration file (docs/rotation.md §4). */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { addDevice } from '../../core/devices/add.js';
import { refreshOf } from '../../core/devices/config.js';
import { writeFileAtomic } from '../../core/devices/files.js';
import { formatInterval, parseInterval } from '../../core/devices/interval.js';
import { addDeviceText, checkNewName, findDevice, removeDeviceText, renameDeviceText } from '../../core/devices/registry.js';
import { UsageError } from '../exit.js';
import { table } from '../printer.js';
import { addConfigOption, loadRotation, newPassword, passwordProvider, type ConfigFlag } from '../rotation.js';
import { kdfParams } from './repo.js';
import type { Ctx } from '../main.js';

export function registerDevice(program: Command, ctx: Ctx): void {
  const device = program.command('device').description('register, list, rename and remove the devices used in rotation');

  addConfigOption(device.command('add'))
    .description('register the repository at PATH (or PATH/flashback), or create one there in the family of the registered devices')
    .argument('<name>', 'a short name: letters, digits, "-" or "_"')
    .argument('<path>', 'where the device is mounted now (it is recognised by its repository id later, wherever it is mounted)')
    .option('--refresh <interval>', 'how often this device should be refreshed (e.g. 7d, 30d; default: [defaults] refresh)')
    .action(async (name: string, path: string, f: ConfigFlag & { refresh?: string }) => {
      const out = ctx.out();
      const { env, loaded } = await loadRotation(f, out);
      const refresh = f.refresh === undefined ? undefined : parseInterval(f.refresh);
      if (refresh === undefined && f.refresh !== undefined) throw new UsageError(`invalid --refresh "${f.refresh}"`, 'use a number and units s, m, h, d, w, e.g. 7d');
      const cfg = loaded.config;
      checkNewName(cfg, name); // before any passphrase is asked
      const pw = passwordProvider(ctx.g(), cfg, env);
      const r = await addDevice({
        config: cfg,
        env,
        name,
        path: resolve(path),
        refresh,
        password: ({ path: at, device: d }) => pw(d, `enter passphrase for repository ${at}${d ? ` (device ${d.name})` : ''}: `)!,
        newPassword: (at) => newPassword(ctx.g(), cfg, env, `enter passphrase for the new repository ${at}: `),
        kdf: kdfParams(process.env),
      });
      await writeFileAtomic(loaded.file, addDeviceText(loaded.text, loaded.file, r.entry), 0o600);
      if (out.json) {
        out.jsonLine({ message_type: 'device_added', name, id: r.entry.id, family: r.entry.family, path: r.entry.path, created: r.created, joined: r.joined ?? null, config_file: loaded.file });
        return;
      }
      if (r.created) out.info(`created flashback repository ${r.entry.id.slice(0, 10)} at ${r.entry.path}${r.joined ? ` in the family of ${r.joined}` : ''}`);
      out.info(`registered device ${name} (repository ${r.entry.id.slice(0, 10)}) in ${loaded.file}`);
      if (r.created) out.info('Keep the passphrase safe: without it nobody, including you, can read this device.');
    });

  addConfigOption(device.command('list'))
    .description('list the registered devices')
    .action(async (f: ConfigFlag) => {
      const out = ctx.out();
      const { loaded } = await loadRotation(f, out);
      const cfg = loaded.config;
      if (out.json) {
        out.jsonLine(cfg.devices.map((d) => ({ name: d.name, id: d.id, family: d.family, path: d.path ?? null, refresh: formatInterval(refreshOf(cfg, d)) })));
        return;
      }
      if (!cfg.devices.length) return out.info(`no device is registered (${loaded.file}); add one with "flashback device add NAME PATH"`);
      const rows = cfg.devices.map((d) => [d.name, d.id.slice(0, 10), d.family.slice(0, 10), formatInterval(refreshOf(cfg, d)), d.path ?? '']);
      for (const l of table(rows, ['Name', 'ID', 'Family', 'Refresh', 'Added at'])) out.line(l);
    });

  addConfigOption(device.command('remove'))
    .description('unregister a device (its repository is not touched)')
    .argument('<name>')
    .action(async (name: string, f: ConfigFlag) => {
      const out = ctx.out();
      const { loaded, state } = await loadRotation(f, out);
      const d = findDevice(loaded.config, name);
      await writeFileAtomic(loaded.file, removeDeviceText(loaded.text, loaded.file, name), 0o600);
      await state.update(d.id, () => undefined);
      out.info(`removed device ${name} from ${loaded.file}; its repository (${d.id.slice(0, 10)}) was not touched`);
    });

  addConfigOption(device.command('rename'))
    .description('rename a device')
    .argument('<old>')
    .argument('<new>')
    .action(async (from: string, to: string, f: ConfigFlag) => {
      const out = ctx.out();
      const { loaded } = await loadRotation(f, out);
      const d = findDevice(loaded.config, from);
      checkNewName({ ...loaded.config, devices: loaded.config.devices.filter((x) => x !== d) }, to);
      await writeFileAtomic(loaded.file, renameDeviceText(loaded.text, loaded.file, from, to, d.id), 0o600);
      out.info(`renamed device ${from} to ${to}`);
    });
}
