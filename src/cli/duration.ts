/** Durations and sizes given on the command line: "90s", "10m", "1h30m", "2d"; "500M", "2G", "1.5T". */
import { UsageError } from './exit.js';

const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** milliseconds of a duration such as 1h30m (units ms, s, m, h, d; a bare number is seconds) */
export function parseDuration(s: string, flag: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * TIME_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (end === 0 || end !== t.length) throw new UsageError(`invalid duration for ${flag}: "${s}"`, 'use a number and units like 90s, 10m, 1h30m or 2d');
  return total;
}

/** bytes of a size such as 500M or 2G (powers of 1024; an optional trailing "B" or "iB") */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size for ${flag}: "${s}"`, 'use a number and a unit like 500M, 2G or 1T');
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
}
