/** The effective configuration as plain data in the file's own vocabulary (for "flashback config"). */
import { formatDuration } from '../retention/duration.js';
import { refreshOf, type FlashbackConfig } from './config.js';
import { formatInterval } from './interval.js';

type Plain = Record<string, unknown>;

function defined(o: Plain): Plain {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function effectiveConfig(cfg: FlashbackConfig): Plain {
  const r = cfg.retention;
  const count = (n: number | undefined) => (n === Infinity ? 'unlimited' : n || undefined);
  const dur = (d: typeof r.within) => (d ? formatDuration(d) : undefined);
  const out: Plain = {
    backup: defined({
      paths: cfg.backup.paths,
      exclude: cfg.backup.exclude,
      exclude_file: cfg.backup.excludeFile,
      exclude_caches: cfg.backup.excludeCaches,
      follow_symlinks: cfg.backup.followSymlinks,
      one_file_system: cfg.backup.oneFileSystem,
      host: cfg.backup.host,
    }),
    retention: defined({
      keep_last: count(r.last),
      keep_hourly: count(r.hourly),
      keep_daily: count(r.daily),
      keep_weekly: count(r.weekly),
      keep_monthly: count(r.monthly),
      keep_yearly: count(r.yearly),
      keep_within: dur(r.within),
      keep_within_hourly: dur(r.withinHourly),
      keep_within_daily: dur(r.withinDaily),
      keep_within_weekly: dur(r.withinWeekly),
      keep_within_monthly: dur(r.withinMonthly),
      keep_within_yearly: dur(r.withinYearly),
      keep_tag: r.tags?.map((t) => t.join(',')),
    }),
    prune: defined({ max_unused: cfg.prune.maxUnused, max_repack_size: cfg.prune.maxRepackSize }),
    scrub: { max_duration: formatInterval(cfg.scrub.maxDuration) },
    password: defined({ command: cfg.password.command, file: cfg.password.file }),
    discovery: { roots: cfg.discovery.roots },
    defaults: { refresh: formatInterval(cfg.defaults.refresh) },
    devices: Object.fromEntries(
      cfg.devices.map((d) => [
        d.name,
        defined({ id: d.id, family: d.family, path: d.path, refresh: formatInterval(refreshOf(cfg, d)), password_command: d.passwordCommand, password_file: d.passwordFile }),
      ]),
    ),
  };
  for (const k of ['password', 'devices']) if (Object.keys(out[k] as Plain).length === 0) delete out[k];
  return out;
}
