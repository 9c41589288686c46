/** Intervals in the configuration ("7d", "12h", "1h30m", "2w", "0"): units s, m (minutes), h, d, w. */
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** milliseconds, or undefined when `s` is not an interval */
export function parseInterval(s: string): number | undefined {
  const t = s.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(s|m|h|d|w)/y;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * UNITS[m[2]];
    end = re.lastIndex;
  }
  return end > 0 && end === t.length ? total : undefined;
}

/** "7d", "12h", "1h30m": the largest units first, zero parts left out */
export function formatInterval(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const [u, n] of [['d', UNITS.d], ['h', UNITS.h], ['m', UNITS.m], ['s', UNITS.s]] as const) {
    const k = Math.floor(rest / n);
    if (k > 0) {
      out += `${k}${u}`;
      rest -= k * n;
    }
  }
  return out || `${ms}ms`;
}

/** "just now", "5 minutes ago", "3 hours ago", "12 days ago" */
export function formatAge(ms: number): string {
  if (ms < 0) return 'in the future';
  const min = Math.floor(ms / 60_000);
  if (min < 1) return 'just now';
  if (min < 60) return `${min} minute${min === 1 ? '' : 's'} ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`;
  const d = Math.floor(h / 24);
  return `${d} days ago`;
}

const SIZE: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** bytes of "500M", "2G", "1.5T" (powers of 1024), or undefined */
export function parseSizeValue(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  return m ? Math.floor(Number(m[1]) * SIZE[m[2].toLowerCase()]) : undefined;
}

/** prune's max-unused: "5%", a size, or "unlimited"; undefined when invalid */
export function parseMaxUnusedValue(s: string): { fraction: number } | { bytes: number } | undefined {
  if (s === 'unlimited') return { fraction: 1 };
  const m = /^(\d+(?:\.\d+)?)%$/.exec(s.trim());
  if (m) return Number(m[1]) <= 100 ? { fraction: Number(m[1]) / 100 } : undefined;
  const b = parseSizeValue(s);
  return b === undefined ? undefined : { bytes: b };
}
