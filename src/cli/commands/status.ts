/** status: every registered device, connected or not; overdue marks; which one to plug in next. */
import type { Command } from 'commander';
import { discover } from '../../core/devices/discover.js';
import { formatAge, formatInterval } from '../../core/devices/interval.js';
import { learnFromDevices } from '../../core/devices/learn.js';
import { deviceStatus, type DeviceStatus } from '../../core/devices/status.js';
import { formatBytes } from '../progress.js';
import { table } from '../printer.js';
import { addConfigOption, clock, loadRotation, passwordProvider, type ConfigFlag } from '../rotation.js';
import type { Ctx } from '../main.js';

function inFuture(ms: number): string {
  const d = Math.floor(ms / 86_400_000);
  if (d >= 2) return `in ${d} days`;
  const h = Math.floor(ms / 3_600_000);
  return h >= 1 ? `in ${h} hour${h === 1 ? '' : 's'}` : 'within the hour';
}

function scrubText(s: DeviceStatus, now: number): string {
  if (!s.scrub || s.scrub.total_packs === 0) return '-';
  const pct = Math.floor((100 * s.scrub.packs) / s.scrub.total_packs);
  const oldest = s.scrub.oldest ? `, oldest ${formatAge(now - Date.parse(s.scrub.oldest)).replace(/ ago$/, '')}` : '';
  return `${pct} %${oldest}${s.scrub.damaged ? `, ${s.scrub.damaged} DAMAGED` : ''}`;
}

export function statusRows(devices: DeviceStatus[], now: number): string[][] {
  return devices.map((s) => [
    s.name,
    s.paths.length > 1 ? `AMBIGUOUS: ${s.paths.join(', ')}` : (s.paths[0] ?? '-'),
    s.age === undefined ? 'never' : formatAge(s.age),
    s.overdue ? 'OVERDUE' : inFuture(Date.parse(s.due!) - now),
    s.snapshots === undefined ? '-' : String(s.snapshots),
    `${s.usedBytes === undefined ? '-' : formatBytes(s.usedBytes)} / ${s.freeBytes === undefined ? '-' : formatBytes(s.freeBytes)}`,
    scrubText(s, now),
    s.lastError ? `${s.lastError.step}: ${s.lastError.message.slice(0, 50)}${s.lastError.message.length > 50 ? '…' : ''}` : '-',
  ]);
}

export function registerStatus(program: Command, ctx: Ctx): void {
  addConfigOption(program.command('status'))
    .description('show every registered device, connected or not: last backup, overdue, space, scrub coverage, last error, which to plug in next')
    .action(async (f: ConfigFlag) => {
      const out = ctx.out();
      const now = clock();
      const { env, loaded, state } = await loadRotation(f, out);
      const cfg = loaded.config;
      const disc = await discover(cfg, env, await state.load());
      const pw = passwordProvider(ctx.g(), cfg, env, true);
      await learnFromDevices({ config: cfg, state, found: disc.found, now, password: (d) => pw(d, '') ?? Promise.resolve(undefined), warn: (m) => out.warn(m) });
      const report = deviceStatus(cfg, await state.load(), disc.found, now());
      const t = Date.parse(report.now);
      if (out.json) {
        out.jsonLine({
          config_file: loaded.file,
          state_file: state.file,
          now: report.now,
          devices: report.devices.map((s) => ({
            name: s.name,
            id: s.id,
            present: s.present,
            path: s.paths.length === 1 ? s.paths[0] : null,
            paths: s.paths,
            last_seen_path: s.lastSeenPath ?? null,
            last_backup: s.lastBackup ?? null,
            age_seconds: s.age === undefined ? null : Math.floor(s.age / 1000),
            refresh: formatInterval(s.refresh),
            due: s.due ?? null,
            overdue: s.overdue,
            snapshots: s.snapshots ?? null,
            used_bytes: s.usedBytes ?? null,
            free_bytes: s.freeBytes ?? null,
            scrub: s.scrub ?? null,
            last_error: s.lastError ?? null,
          })),
          next: report.next ?? null,
          unregistered: disc.unregistered,
        });
        return;
      }
      if (!report.devices.length) {
        out.line(`no device is registered (${loaded.file}); add one with "flashback device add NAME PATH"`);
      } else {
        for (const l of table(statusRows(report.devices, t), ['Device', 'Connected', 'Last backup', 'Due', 'Snapshots', 'Used / free', 'Scrub', 'Last error'])) out.line(l);
      }
      for (const s of report.devices) {
        if (!s.lastError) continue;
        out.line(`${s.name}: last run failed (${s.lastError.step}, ${formatAge(t - Date.parse(s.lastError.time))}): ${s.lastError.message}`);
        if (s.lastError.hint) out.line(`  hint: ${s.lastError.hint}`);
      }
      for (const u of disc.unregistered) out.line(`not registered: a repository at ${u.path} (id ${u.id.slice(0, 10)}); "flashback run" never writes it`);
      const next = report.devices.find((s) => s.name === report.next);
      if (next) out.line(`plug in next: ${next.name} (${next.age === undefined ? 'never used' : `last backup ${formatAge(next.age)}`}${next.overdue ? ', overdue' : ''})`);
      else if (report.devices.some((s) => s.present)) out.line('every registered device is connected: "flashback run" refreshes them');
    });
}
