import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, formatBytes, formatDuration, statusLine } from '../src/cli/progress.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** A fake stream that records writes, and a clock the test moves by hand. */
function setup(isTTY: boolean, columns: number, mode: { quiet?: boolean; json?: boolean } = {}) {
  const writes: string[] = [];
  const stream = { isTTY, columns, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream;
  const clock = { t: 1_000_000 };
  const progress = createProgress('backup', { stream, quiet: !!mode.quiet, json: !!mode.json, now: () => clock.t });
  return { writes, stream, clock, progress, at: (ms: number) => (clock.t = 1_000_000 + ms) };
}

const strip = (s: string) => s.replace(/\r|\x1b\[K/g, '');
/** Columns of a string, counting CJK as two. */
const cols = (s: string) => [...s].reduce((w, ch) => w + (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uff00-\uff60]/u.test(ch) ? 2 : 1), 0);

test('formatBytes: IEC units, three significant digits', () => {
  const table: [number, string][] = [
    [0, '0 B'], [1, '1 B'], [1023, '1023 B'], [1024, '1.00 KiB'], [1536, '1.50 KiB'], [10 * 1024, '10.0 KiB'],
    [512 * 1024, '512 KiB'], [1023.999 * 1024, '1.00 MiB'], [98.3 * MiB, '98.3 MiB'], [1.2 * GiB, '1.20 GiB'],
    [3 * 2 ** 40, '3.00 TiB'], [-5, '0 B'], [NaN, '0 B'],
  ];
  for (const [n, s] of table) assert.equal(formatBytes(n), s, String(n));
});

test('formatDuration', () => {
  const table: [number, string][] = [[0, '0:00'], [12, '0:12'], [12.9, '0:12'], [62, '1:02'], [600, '10:00'],
    [3599, '59:59'], [3600, '1:00:00'], [3723, '1:02:03'], [90000, '25:00:00'], [-1, '0:00'], [Infinity, '0:00']];
  for (const [n, s] of table) assert.equal(formatDuration(n), s, String(n));
});

test('status line with totals: percentage, rate, ETA, current file', () => {
  const s = { files: 12034, bytes: 1.2 * GiB, totalBytes: (1.2 * GiB) / 0.451, current: 'src/linux/fs/ext4/inode.c' };
  assert.equal(statusLine(s, 12_000, 120), '[0:12] 45.1% 12034 files 1.20 GiB, 102 MiB/s, ETA 0:14  src/linux/fs/ext4/inode.c');
  assert.equal(statusLine({ files: 5, bytes: 0, totalFiles: 20, errors: 2 }, 3_000, 120), '[0:03] 25.0% 5 files 0 B, 2 errors, ETA 0:09');
  assert.equal(statusLine({ files: 1, bytes: 10, errors: 1 }, 0, 120), '[0:00] 1 files 10 B, 1 error');
});

test('unknown totals: no percentage and no ETA', () => {
  const line = statusLine({ files: 10, bytes: 5 * MiB, current: '/a/b' }, 20_000, 200);
  assert.equal(line, '[0:20] 10 files 5.00 MiB, 256 KiB/s  /a/b');
  assert.ok(!line.includes('%') && !line.includes('ETA'));
});

test('TTY: redraws at most 8 times a second with \\r and clear-to-end-of-line', () => {
  const { writes, progress, at } = setup(true, 80);
  for (let ms = 0; ms <= 1000; ms += 10) {
    at(ms);
    progress.update({ files: ms, bytes: ms * 1000 });
  }
  assert.ok(writes.length >= 7 && writes.length <= 9, `${writes.length} redraws`);
  for (const w of writes) {
    assert.ok(w.startsWith('\r') && w.endsWith('\x1b[K') && !w.includes('\n'), JSON.stringify(w));
  }
  assert.match(strip(writes[0]), /^\[0:00\] 0 files 0 B$/);
});

test('TTY: the line is cut to the terminal width, never wraps; control characters are masked', () => {
  for (const columns of [20, 40, 60, 100]) {
    const { writes, progress, at } = setup(true, columns);
    at(5_000);
    const current = '/home/ann/some/very/long/directory/name/that/goes/on/and/on/漢字漢字漢字/file\x1b[31m.txt\n';
    progress.update({ files: 123456, bytes: 7 * GiB, totalBytes: 9 * GiB, errors: 3, current });
    assert.equal(writes.length, 1);
    const line = strip(writes[0]);
    assert.ok(cols(line) <= columns - 1, `${columns}: ${cols(line)} ${JSON.stringify(line)}`);
    assert.ok(!/[\x00-\x1f]/.test(line), JSON.stringify(line));
    if (columns >= 100) assert.ok(line.includes('  …') && line.endsWith('/file?[31m.txt?'), line);
  }
});

test('TTY: log() clears the status line, prints, redraws', () => {
  const { writes, progress, at } = setup(true, 80);
  progress.log('before any status');
  assert.deepEqual(writes, ['before any status\n']);
  writes.length = 0;
  progress.update({ files: 1, bytes: 1 });
  at(10);
  progress.log('warning: cannot read /x');
  assert.equal(writes.length, 4);
  assert.equal(writes[1], '\r\x1b[K');
  assert.equal(writes[2], 'warning: cannot read /x\n');
  assert.equal(writes[3], writes[0]);
  writes.length = 0;
  progress.done();
  assert.deepEqual(writes, ['\r\x1b[K']);
  progress.update({ files: 2, bytes: 2 });
  at(5_000);
  progress.update({ files: 3, bytes: 3 });
  progress.done();
  assert.deepEqual(writes, ['\r\x1b[K']);
  progress.log('after');
  assert.equal(writes[1], 'after\n');
});

test('not a TTY: no redraws; a plain line every 10 s, the first after 10 s', () => {
  const { writes, progress, at } = setup(false, 0);
  for (let ms = 0; ms < 10_000; ms += 100) {
    at(ms);
    progress.update({ files: ms, bytes: ms });
  }
  assert.equal(writes.length, 0);
  for (let ms = 10_000; ms <= 35_000; ms += 100) {
    at(ms);
    progress.update({ files: 10, bytes: 10 * MiB, totalFiles: 20, current: '/x' });
  }
  assert.deepEqual(writes, [
    'backup: [0:10] 50.0% 10 files 10.0 MiB, 1.00 MiB/s, ETA 0:10\n',
    'backup: [0:20] 50.0% 10 files 10.0 MiB, 512 KiB/s, ETA 0:20\n',
    'backup: [0:30] 50.0% 10 files 10.0 MiB, 341 KiB/s, ETA 0:30\n',
  ]);
  progress.log('a line');
  progress.done();
  assert.equal(writes.at(-1), 'a line\n');
  assert.ok(writes.every((w) => !w.includes('\r') && !w.includes('\x1b')));
});

test('a TTY with 0 columns gets no redraws', () => {
  const { writes, progress, at } = setup(true, 0);
  for (let ms = 0; ms < 5_000; ms += 100) {
    at(ms);
    progress.update({ files: 1, bytes: 1 });
  }
  progress.done();
  assert.equal(writes.length, 0);
});

test('quiet and json: no status output at all, log() still prints', () => {
  for (const mode of [{ quiet: true }, { json: true }]) {
    for (const tty of [true, false]) {
      const { writes, progress, at } = setup(tty, 80, mode);
      for (let ms = 0; ms <= 60_000; ms += 500) {
        at(ms);
        progress.update({ files: 1, bytes: 1, totalFiles: 2 });
      }
      progress.log('kept');
      progress.done({ files: 2, bytes: 2 });
      assert.deepEqual(writes, ['kept\n'], `${JSON.stringify(mode)} tty=${tty}`);
    }
  }
});
