/**
 * Retention durations in restic's syntax: a sequence of number+unit with the units y (years), m (months),
 * d (days) and h (hours), each at most once, e.g. "1y2m3d4h", "7d", "36h". Years, months and days are
 * calendar steps on the local wall clock; hours are exact hours (see calendar.ts, subtractDuration).
 */
import { FlashbackError } from '../errors/errors.js';

export interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const UNIT: Record<string, keyof Duration> = { y: 'years', m: 'months', d: 'days', h: 'hours' };

export function parseDuration(s: string): Duration {
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const bad = (why: string) =>
    new FlashbackError('ERR_USAGE', `invalid duration "${s}": ${why}`, { hint: 'use numbers with the units y, m, d, h, e.g. 1y6m, 14d or 36h' });
  if (!s) throw bad('empty');
  const seen = new Set<string>();
  const re = /(\d+)([a-zA-Z]?)/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw bad(`unexpected "${s.slice(pos)}"`);
    const unit = m[2];
    if (!unit) throw bad(`no unit after ${m[1]}`);
    if (!(unit in UNIT)) throw bad(`unknown unit "${unit}"`);
    if (seen.has(unit)) throw bad(`unit "${unit}" given twice`);
    seen.add(unit);
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) throw bad('number too large');
    d[UNIT[unit]] = n;
    pos = re.lastIndex;
  }
  return d;
}

export function isZeroDuration(d: Duration | undefined): boolean {
  return !d || (d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0);
}

/** "1y2m3d4h", leaving out zero parts ("0h" for a zero duration) */
export function formatDuration(d: Duration): string {
  const s = (d.years ? `${d.years}y` : '') + (d.months ? `${d.months}m` : '') + (d.days ? `${d.days}d` : '') + (d.hours ? `${d.hours}h` : '');
  return s || '0h';
}
