/** watch: run registered devices when they are plugged in; install-service: a systemd user unit for it. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { discover } from '../../core/devices/discover.js';
import { loadConfig } from '../../core/devices/files.js';
import { configPath } from '../../core/devices/paths.js';
import { watchDevices } from '../../core/devices/watch.js';
import { FlashbackError } from '../../core/errors/errors.js';
import { parseDuration } from '../duration.js';
import { EXIT } from '../exit.js';
import { addConfigOption, clock, hostEnv, loadRotation, passwordSource, type ConfigFlag } from '../rotation.js';
import { eventPrinter, runWith, summaryLine } from './run.js';
import type { Ctx } from '../main.js';

interface WatchFlags extends ConfigFlag {
  interval: string;
  settle: string;
  notify?: boolean;
  maxRuns?: string;
}

const stamp = () => new Date().toTimeString().slice(0, 8);

export function registerWatch(program: Command, ctx: Ctx): void {
  addConfigOption(program.command('watch'))
    .description('wait for registered devices to be plugged in, and run each (backup, retention, prune, scrub) once per plug-in')
    .option('--interval <duration>', 'how often to look for devices', '2s')
    .option('--settle <duration>', 'how long a device must be present before its run starts', '3s')
    .option('--notify', 'desktop notifications (notify-send) when a device is done')
    .option('--max-runs <n>', 'stop after this many runs')
    .action(async (f: WatchFlags) => {
      const out = ctx.out();
      const intervalMs = parseDuration(f.interval, '--interval');
      const settleMs = parseDuration(f.settle, '--settle');
      const { env, loaded, state } = await loadRotation(f, out);
      const file = loaded.file;
      // unattended: a prompt is impossible, so every device needs a passphrase command or file
      const missing = loaded.config.devices.filter((d) => passwordSource(ctx.g(), loaded.config, env, d).interactive);
      if (missing.length) {
        throw new FlashbackError('ERR_USAGE', `no unattended passphrase for ${missing.map((d) => d.name).join(', ')}`, {
          hint: 'set [password] command (e.g. "secret-tool lookup flashback stick") or file in the configuration file (docs/rotation.md)',
        });
      }
      const now = clock();
      const printer = eventPrinter(out, !!f.notify);
      out.info(`${stamp()} watching for ${loaded.config.devices.map((d) => d.name).join(', ') || 'no registered device'} (configuration ${file})`);
      const runs = await watchDevices({
        intervalMs,
        settleMs,
        signal: ctx.signal,
        maxRuns: f.maxRuns ? Number(f.maxRuns) : undefined,
        look: async () => {
          const cfg = (await loadConfig(configPath(env, f.config))).config;
          const d = await discover(cfg, env, await state.load());
          const present = new Map<string, string>();
          for (const dev of cfg.devices) {
            const at = d.found.get(dev.id);
            if (at?.length === 1) present.set(dev.name, at[0]);
          }
          return { present };
        },
        run: async (names) => {
          const config = (await loadConfig(configPath(env, f.config))).config;
          return runWith(ctx, { env, config, state, names, now, unattended: true, onEvent: printer });
        },
        onEvent: (e) => {
          if (e.type === 'connected') out.info(`${stamp()} ${e.name}: connected at ${e.path}; starting in ${(e.runInMs / 1000).toFixed(1)} s`);
          else if (e.type === 'removed') out.info(`${stamp()} ${e.name}: removed`);
          else if (e.type === 'run-done') for (const d of e.result.devices.filter((x) => x.status !== 'absent')) out.info(`${stamp()} ${d.name}: ${summaryLine(d)}`);
          else if (e.type === 'error') out.warn(e.message);
        },
      });
      out.info(`${stamp()} stopped watching after ${runs} run(s)`);
      ctx.setExit(EXIT.ok);
    });

  addConfigOption(program.command('install-service'))
    .description('install and start a systemd user service that runs "flashback watch" (prints what it does)')
    .option('--no-enable', 'only write the unit file; do not enable or start it')
    .action(async (f: ConfigFlag & { enable?: boolean }) => {
      const out = ctx.out();
      const env = hostEnv();
      const base = process.env.XDG_CONFIG_HOME || join(env.home, '.config');
      const unitFile = join(base, 'systemd', 'user', 'flashback-watch.service');
      const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../bin/flashback');
      const cfg = f.config ? ` --config ${JSON.stringify(resolve(f.config))}` : '';
      const unit = [
        '# written by "flashback install-service"; remove with: systemctl --user disable --now flashback-watch',
        '[Unit]',
        'Description=Flashback: back up to registered devices when they are plugged in',
        'After=default.target',
        '',
        '[Service]',
        'Type=simple',
        `ExecStart=${process.execPath} ${bin} watch --notify${cfg}`,
        'Restart=on-failure',
        'RestartSec=30',
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n');
      const before = existsSync(unitFile) ? readFileSync(unitFile, 'utf8') : undefined;
      mkdirSync(dirname(unitFile), { recursive: true });
      writeFileSync(unitFile, unit);
      out.info(`${before === undefined ? 'wrote' : before === unit ? 'kept' : 'updated'} ${unitFile}:`);
      for (const l of unit.trimEnd().split('\n')) out.info(`  ${l}`);
      const loaded = await loadConfig(configPath(env, f.config));
      const prompt = loaded.config.devices.filter((d) => passwordSource(ctx.g(), loaded.config, env, d).interactive);
      if (!loaded.config.devices.length) out.warn(`no device is registered in ${loaded.file} yet: add one with "flashback device add NAME PATH"`);
      if (prompt.length) out.warn(`the service cannot ask for a passphrase: set [password] command or file in ${loaded.file} (${prompt.map((d) => d.name).join(', ')})`);
      if (f.enable === false) {
        out.info('not enabled (--no-enable); to start it: systemctl --user daemon-reload && systemctl --user enable --now flashback-watch');
        return;
      }
      const has = spawnSync('sh', ['-c', 'command -v systemctl'], { stdio: 'ignore' }).status === 0;
      if (!has) {
        out.warn('systemctl is not available here: start "flashback watch" from your session instead');
        ctx.setExit(EXIT.error);
        return;
      }
      for (const args of [['--user', 'daemon-reload'], ['--user', 'enable', '--now', 'flashback-watch.service']]) {
        out.info(`running: systemctl ${args.join(' ')}`);
        const r = spawnSync('systemctl', args, { encoding: 'utf8' });
        if (r.status !== 0) {
          process.stderr.write(`error: systemctl ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}\n  hint: is a user session (systemd --user) running? "loginctl enable-linger $USER" keeps it running without a login\n`);
          ctx.setExit(EXIT.error);
          return;
        }
      }
      out.info('the service is running: plug in a registered device and it is backed up; see "journalctl --user -u flashback-watch"');
    });
}
