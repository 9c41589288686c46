/**
 * The local calendar of one time zone, for retention buckets: which hour, day, ISO week, month and year an
 * instant falls in, and calendar arithmetic for --keep-within. Pure: the zone is a parameter (an IANA name such
 * as "Europe/Berlin"), never read from the process, so tests are deterministic in any zone.
 *
 * Days, weeks, months and years are those of the wall clock, so a 23- or 25-hour DST day is still one day.
 * An hour bucket also carries the UTC offset: in the hour that repeats when clocks go back (02:00–03:00 twice
 * in Berlin), the two real hours are two buckets (restic would merge them).
 */
import type { Duration } from './duration.js';

export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number; // 0-23
  minute: number;
  second: number;
  /** minutes east of UTC at this instant */
  offset: number;
}

const DAY_MS = 86_400_000;

export class ZonedCalendar {
  private readonly fmt: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    // throws RangeError for an unknown zone
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
  }

  wall(ms: number): WallTime {
    const p: Record<string, string> = {};
    for (const part of this.fmt.formatToParts(ms)) p[part.type] = part.value;
    let year = Number(p.year);
    if (p.era === 'BC' || p.era === 'B') year = 1 - year;
    const w = { year, month: Number(p.month), day: Number(p.day), hour: Number(p.hour), minute: Number(p.minute), second: Number(p.second), offset: 0 };
    const asUtc = utc(w.year, w.month, w.day, w.hour, w.minute, w.second);
    w.offset = Math.round((asUtc - (ms - mod(ms, 1000))) / 60_000);
    return w;
  }

  /**
   * The instant `d` before `ms`: years, months and days step back on the wall clock (like Go's AddDate:
   * 31 March minus one month is 3 March), then hours are subtracted as exact hours.
   */
  subtract(ms: number, d: Duration): number {
    const w = this.wall(ms);
    const wallMs = utc(w.year - d.years, w.month - d.months, w.day - d.days, w.hour, w.minute, w.second) + mod(ms, 1000);
    return this.instantOf(wallMs, w.offset) - d.hours * 3_600_000;
  }

  /** the instant whose wall clock reads `wallMs` (as if UTC); in a DST gap or overlap, one of the candidates */
  private instantOf(wallMs: number, offsetGuess: number): number {
    let t = wallMs - offsetGuess * 60_000;
    for (let i = 0; i < 2; i++) t = wallMs - this.wall(t).offset * 60_000;
    return t;
  }
}

export type Period = 'hour' | 'day' | 'week' | 'month' | 'year';

/** the bucket of a wall time: equal keys mean the same hour, day, ISO week, month or year of the local calendar */
export function periodKey(period: Period, w: WallTime): string {
  switch (period) {
    case 'hour':
      return `${w.year}-${w.month}-${w.day}T${w.hour}${w.offset >= 0 ? '+' : ''}${w.offset}`;
    case 'day':
      return `${w.year}-${w.month}-${w.day}`;
    case 'week': {
      const { year, week } = isoWeek(w.year, w.month, w.day);
      return `${year}-W${week}`;
    }
    case 'month':
      return `${w.year}-${w.month}`;
    case 'year':
      return String(w.year);
  }
}

function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // setUTCFullYear keeps years 0-99 as they are (Date.UTC does not)
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** ISO 8601 week: weeks start on Monday; week 1 is the one holding the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const t = utc(year, month, day);
  const dow = mod(new Date(t).getUTCDay() + 6, 7); // Monday = 0
  const thursday = t + (3 - dow) * DAY_MS;
  const wy = new Date(thursday).getUTCFullYear();
  return { year: wy, week: 1 + Math.floor((thursday - utc(wy, 1, 1)) / DAY_MS / 7) };
}
