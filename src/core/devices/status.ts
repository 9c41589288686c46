/**
 * `flashback status` (docs/rotation.md §6): every registered device, connected or not, from the host state;
 * overdue marks and which device to plug in next. Pure: state, discovery and the clock come in.
 */
import { refreshOf, type FlashbackConfig } from './config.js';
import type { ErrorFacts, HostState, ScrubFacts } from './state.js';

export interface DeviceStatus {
  name: string;
  id: string;
  refresh: number;
  present: boolean;
  /** where it is connected; several when the same repository was found twice (ambiguous) */
  paths: string[];
  lastSeenPath?: string;
  lastBackup?: string;
  /** ms since the last backup */
  age?: number;
  snapshots?: number;
  usedBytes?: number;
  freeBytes?: number;
  scrub?: ScrubFacts;
  lastError?: ErrorFacts | null;
  /** time of the last recorded run or note */
  lastRecord?: string;
  overdue: boolean;
  /** when the next backup is due (ISO); undefined: now (never backed up) */
  due?: string;
}

export interface StatusReport {
  now: string;
  devices: DeviceStatus[];
  /** the device to plug in next: not connected, due first (never used first) */
  next?: string;
}

export function deviceStatus(cfg: FlashbackConfig, state: HostState, found: ReadonlyMap<string, string[]>, now: Date): StatusReport {
  const t = now.getTime();
  const devices = cfg.devices.map((d): DeviceStatus => {
    const e = state.devices[d.id];
    const paths = found.get(d.id) ?? [];
    const refresh = refreshOf(cfg, d);
    const last = e?.last_backup ? Date.parse(e.last_backup) : undefined;
    return {
      name: d.name,
      id: d.id,
      refresh,
      present: paths.length > 0,
      paths,
      lastSeenPath: e?.last_seen_path,
      lastBackup: e?.last_backup,
      age: last === undefined ? undefined : t - last,
      snapshots: e?.snapshots,
      usedBytes: e?.used_bytes,
      freeBytes: e?.free_bytes,
      scrub: e?.scrub,
      lastError: e?.last_error,
      lastRecord: e?.time,
      overdue: last === undefined || t - last > refresh,
      due: last === undefined ? undefined : new Date(last + refresh).toISOString(),
    };
  });
  const dueAt = (s: DeviceStatus) => (s.due === undefined ? -Infinity : Date.parse(s.due));
  const candidates = devices.filter((s) => !s.present).sort((a, b) => dueAt(a) - dueAt(b) || (a.name < b.name ? -1 : 1));
  return { now: now.toISOString(), devices, next: candidates[0]?.name };
}
