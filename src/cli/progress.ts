/**
 * Progress reporting.
 *
 * - On a terminal (`stream.isTTY && stream.columns > 0`), not quiet, not json: one status line, redrawn at
 *   most 8 times a second with "\r" + text + clear-to-end-of-line, cut to the terminal width so that it
 *   never wraps: `[0:12] 45.1% 12034 files 1.20 GiB, 98.3 MiB/s, ETA 0:14  src/linux/fs/ext4/inode.c`.
 *   Percentage and ETA appear only when totals are known. `log()` clears the line, prints, redraws.
 * - Otherwise (a pipe, a file, a terminal of unknown width), not quiet, not json: no redraws; a plain
 *   `backup: [0:10] ...` line at most every 10 s, the first one after 10 s, so short runs print nothing.
 * - quiet or json: no status output at all.
 * - `log()` always prints its line; the caller decides what to log in quiet and json modes.
 * - `done()` clears the status line; later updates are ignored.
 * No timers: the display moves when `update()` is called.
 */

export interface ProgressState {
  files: number;
  bytes: number;
  totalFiles?: number;
  totalBytes?: number;
  errors?: number;
  current?: string;
}

export interface Progress {
  update(s: ProgressState): void;
  log(line: string): void;
  done(final?: ProgressState): void;
}

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  quiet: boolean;
  json: boolean;
  /** milliseconds; Date.now by default */
  now?: () => number;
}

const REDRAW_MS = 120; // ~8 redraws a second, and a 125 ms update timer never skips a frame
const PLAIN_MS = 10_000;
const CLEAR_EOL = '\x1b[K';
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** IEC units, three significant digits: 512 B, 1.20 GiB, 98.3 MiB, 512 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) n = 0;
  if (n < 1024) return `${Math.round(n)} B`;
  let unit = 0;
  let v = n;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  let s = v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  if (Number(s) >= 1024 && unit < UNITS.length - 1) {
    unit++;
    s = (v / 1024).toFixed(2);
  }
  return `${s} ${UNITS[unit]}`;
}

/** 0:12, 12:34, 1:02:03 (whole seconds, rounded down). */
export function formatDuration(seconds: number): string {
  const t = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Control characters in a file name must not reach the terminal (escape sequences, newlines). */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** Terminal columns of one code point: 0 for combining marks, 2 for wide East Asian and emoji. */
function charWidth(c: number): number {
  if ((c >= 0x300 && c <= 0x36f) || c === 0x200b || (c >= 0xfe00 && c <= 0xfe0f)) return 0;
  if (
    (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1faff) || (c >= 0x20000 && c <= 0x3fffd)
  ) return 2;
  return 1;
}

function width(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0) ?? 0);
  return w;
}

/** The longest head of `s` that fits in `cols` columns. */
function fitHead(s: string, cols: number): string {
  let w = 0;
  let out = '';
  for (const ch of s) {
    w += charWidth(ch.codePointAt(0) ?? 0);
    if (w > cols) break;
    out += ch;
  }
  return out;
}

/** The longest tail of `s` that fits in `cols` columns. */
function fitTail(s: string, cols: number): string {
  const chars = [...s];
  let w = 0;
  let i = chars.length;
  while (i > 0 && w + charWidth(chars[i - 1].codePointAt(0) ?? 0) <= cols) w += charWidth(chars[--i].codePointAt(0) ?? 0);
  return chars.slice(i).join('');
}

/** The status text without the current file name. */
export function statusText(s: ProgressState, elapsedMs: number): string {
  const secs = elapsedMs / 1000;
  const parts = [`[${formatDuration(secs)}]`];
  let fraction: number | undefined;
  if (s.totalBytes !== undefined && s.totalBytes > 0) fraction = s.bytes / s.totalBytes;
  else if (s.totalFiles !== undefined && s.totalFiles > 0) fraction = s.files / s.totalFiles;
  if (fraction !== undefined) parts.push(`${(Math.min(1, Math.max(0, fraction)) * 100).toFixed(1)}%`);
  let text = `${parts.join(' ')} ${s.files} files ${formatBytes(s.bytes)}`;
  if (secs >= 1 && s.bytes > 0) text += `, ${formatBytes(s.bytes / secs)}/s`;
  if (s.errors) text += `, ${s.errors} error${s.errors === 1 ? '' : 's'}`;
  if (fraction !== undefined && fraction > 0 && fraction < 1 && secs >= 1) {
    text += `, ETA ${formatDuration((secs * (1 - fraction)) / fraction)}`;
  }
  return text;
}

/** One status line that fits in `columns` - 1 columns (the last column can make a terminal wrap). */
export function statusLine(s: ProgressState, elapsedMs: number, columns: number): string {
  const max = columns - 1;
  const head = statusText(s, elapsedMs);
  if (width(head) >= max) return fitHead(head, max);
  const current = s.current ? printable(s.current) : '';
  const room = max - width(head) - 2;
  if (current === '' || room < 8) return head;
  return `${head}  ${width(current) <= room ? current : '…' + fitTail(current, room - 1)}`;
}

export function createProgress(title: string, opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const stream = opts.stream;
  const start = now();
  const silent = opts.quiet || opts.json;
  let state: ProgressState | undefined;
  let drawn = false; // a status line is on the screen
  let lastDraw = -Infinity;
  let lastPlain = start;
  let finished = false;

  const live = (): boolean => !silent && stream.isTTY === true && (stream.columns ?? 0) > 0;
  const draw = (t: number): void => {
    if (state === undefined) return;
    stream.write(`\r${statusLine(state, t - start, stream.columns)}${CLEAR_EOL}`);
    drawn = true;
    lastDraw = t;
  };
  const clear = (): void => {
    if (drawn) stream.write(`\r${CLEAR_EOL}`);
    drawn = false;
  };

  return {
    update(s: ProgressState): void {
      if (finished || silent) return;
      state = { ...s };
      const t = now();
      if (live()) {
        if (t - lastDraw >= REDRAW_MS) draw(t);
      } else if (t - lastPlain >= PLAIN_MS) {
        stream.write(`${title}: ${statusText(state, t - start)}\n`);
        lastPlain = t;
      }
    },
    log(line: string): void {
      if (drawn) {
        clear();
        stream.write(`${line}\n`);
        if (live()) draw(now());
      } else {
        stream.write(`${line}\n`);
      }
    },
    done(final?: ProgressState): void {
      if (final !== undefined) state = { ...final };
      clear();
      finished = true;
    },
  };
}

/** Runs `work` while `progress` is fed from `state()` every 125 ms; always clears the display afterwards. */
export async function withProgress<T>(progress: Progress, state: () => ProgressState, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => progress.update(state()), 125);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    progress.done();
  }
}
