/**
 * Retention planning for forget: which snapshots a policy keeps, which it removes, and why. Pure: no I/O, no
 * clock, no process state; the reference time ("now") and the time zone are inputs. Semantics follow restic's
 * ApplyPolicy; the rules are written down in docs/maintenance.md, "Retention (forget)".
 */
import type { SnapshotRef } from '../model/snapshot.js';
import { ZonedCalendar, periodKey, type Period, type WallTime } from './calendar.js';
import { formatDuration, isZeroDuration, type Duration } from './duration.js';

/** Counts: 0 or absent = rule unused, Infinity = unlimited. */
export interface RetentionPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** keep every snapshot newer than (newest snapshot − within) */
  within?: Duration;
  withinHourly?: Duration;
  withinDaily?: Duration;
  withinWeekly?: Duration;
  withinMonthly?: Duration;
  withinYearly?: Duration;
  /** keep every snapshot that has all tags of at least one of these lists */
  tags?: string[][];
}

export interface RetentionContext {
  /** the reference for --keep-within: the newest snapshot not after `now` (snapshots from the future don't count) */
  now: Date;
  /** IANA zone whose calendar defines hours, days, weeks, months and years */
  timeZone: string;
}

export interface KeepReason {
  snapshot: SnapshotRef;
  matches: string[];
}

export interface PolicyResult {
  /** newest first, as are remove and reasons (reasons[i] explains keep[i]) */
  keep: SnapshotRef[];
  remove: SnapshotRef[];
  reasons: KeepReason[];
}

const COUNTED: [keyof RetentionPolicy, Period | null, string][] = [
  ['last', null, 'last snapshot'],
  ['hourly', 'hour', 'hourly snapshot'],
  ['daily', 'day', 'daily snapshot'],
  ['weekly', 'week', 'weekly snapshot'],
  ['monthly', 'month', 'monthly snapshot'],
  ['yearly', 'year', 'yearly snapshot'],
];
const WITHIN: [keyof RetentionPolicy, Period, string][] = [
  ['withinHourly', 'hour', 'hourly within'],
  ['withinDaily', 'day', 'daily within'],
  ['withinWeekly', 'week', 'weekly within'],
  ['withinMonthly', 'month', 'monthly within'],
  ['withinYearly', 'year', 'yearly within'],
];

export function policyIsEmpty(p: RetentionPolicy): boolean {
  return (
    COUNTED.every(([k]) => !((p[k] as number | undefined) ?? 0)) &&
    isZeroDuration(p.within) &&
    WITHIN.every(([k]) => isZeroDuration(p[k] as Duration | undefined)) &&
    !p.tags?.length
  );
}

/** newest first; equal times are ordered by id (descending), so every run picks the same snapshot of a tie */
export function newestFirst(a: SnapshotRef, b: SnapshotRef): number {
  return Date.parse(b.snapshot.time) - Date.parse(a.snapshot.time) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Applies the policy to one group of snapshots. An empty policy keeps everything. */
export function applyPolicy(list: SnapshotRef[], p: RetentionPolicy, ctx: RetentionContext): PolicyResult {
  const sorted = [...list].sort(newestFirst);
  const res: PolicyResult = { keep: [], remove: [], reasons: [] };
  if (policyIsEmpty(p)) {
    res.keep = sorted;
    res.reasons = sorted.map((snapshot) => ({ snapshot, matches: ['policy is empty'] }));
    return res;
  }
  if (!sorted.length) return res;
  const cal = new ZonedCalendar(ctx.timeZone);
  const times = sorted.map((r) => Date.parse(r.snapshot.time));
  const now = ctx.now.getTime();
  const latest = times.find((t) => t <= now) ?? times[0];
  const counted = COUNTED.filter(([k]) => ((p[k] as number | undefined) ?? 0) > 0).map(([k, period, reason]) => ({
    count: p[k] as number,
    period,
    reason,
    last: undefined as string | undefined,
  }));
  const within = WITHIN.filter(([k]) => !isZeroDuration(p[k] as Duration | undefined)).map(([k, period, reason]) => {
    const d = p[k] as Duration;
    return { period, reason: `${reason} ${formatDuration(d)}`, cutoff: cal.subtract(latest, d), last: undefined as string | undefined };
  });
  const withinAll = isZeroDuration(p.within) ? undefined : { reason: `within ${formatDuration(p.within!)}`, cutoff: cal.subtract(latest, p.within!) };
  const oldest = sorted.length - 1;

  sorted.forEach((cur, nr) => {
    const matches: string[] = [];
    for (const l of p.tags ?? []) if (l.every((t) => cur.snapshot.tags.includes(t))) matches.push(`tag ${l.join(',')}`);
    if (withinAll && times[nr] > withinAll.cutoff) matches.push(withinAll.reason);
    let wall: WallTime | undefined;
    const key = (period: Period | null) => (period ? periodKey(period, (wall ??= cal.wall(times[nr]))) : `#${nr}`);
    for (const b of counted) {
      if (b.count <= 0) continue;
      const val = key(b.period);
      // restic: while a rule has counts left, the group's oldest snapshot is kept too (longest history)
      if (val === b.last && nr !== oldest) continue;
      matches.push(val === b.last ? `oldest ${b.reason}` : b.reason);
      b.last = val;
      b.count--;
    }
    for (const b of within) {
      if (times[nr] <= b.cutoff) continue;
      const val = key(b.period);
      if (val === b.last && nr !== oldest) continue;
      matches.push(val === b.last ? `oldest ${b.reason}` : b.reason);
      b.last = val;
    }
    if (matches.length) {
      res.keep.push(cur);
      res.reasons.push({ snapshot: cur, matches });
    } else {
      res.remove.push(cur);
    }
  });
  return res;
}

/** "keep 2 last, 7 daily snapshots, all snapshots with tags [important] and all snapshots within 1m of the newest" */
export function describePolicy(p: RetentionPolicy): string {
  const counts = COUNTED.filter(([k]) => ((p[k] as number | undefined) ?? 0) > 0).map(([k]) => {
    const n = p[k] as number;
    return `${n === Infinity ? 'all' : n} ${k === 'last' ? 'latest' : k}`;
  });
  const parts: string[] = [];
  if (counts.length) parts.push(`${counts.join(', ')} snapshots`);
  for (const [k, , reason] of WITHIN) {
    const d = p[k] as Duration | undefined;
    if (!isZeroDuration(d)) parts.push(`${reason.split(' ')[0]} snapshots within ${formatDuration(d!)}`);
  }
  if (p.tags?.length) parts.push(`all snapshots with tags ${p.tags.map((l) => `[${l.join(',')}]`).join(' or ')}`);
  if (!isZeroDuration(p.within)) parts.push(`all snapshots within ${formatDuration(p.within!)} of the newest`);
  return parts.length ? `keep ${parts.join(', ')}` : 'keep everything (empty policy)';
}
