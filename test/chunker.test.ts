import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chunker, chunkFile, gearTable, type ChunkerParams, type ChunkScratch } from '../src/core/chunker/fastcdc.js';
import { addon } from '../src/core/util/addon.js';

const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 65536 };
const DEFAULT: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };
const KEY = Buffer.alloc(32, 1);
const GEAR = gearTable(KEY);

/** Seeded pseudo-random bytes: the AES-256-CTR keystream of key 32×seed, iv 0. */
function keystream(length: number, seed = 2): Buffer {
  return createCipheriv('aes-256-ctr', Buffer.alloc(32, seed), Buffer.alloc(16, 0)).update(Buffer.alloc(length));
}

// ---- Naive reference, written from the text of docs/design.md §6 with unsigned floating-point arithmetic ----

function refGear(chunkerKey: Buffer): number[] {
  const gear: number[] = [];
  for (let i = 0; i < 256; i++) {
    const mac = createHmac('sha256', chunkerKey).update(Buffer.concat([Buffer.from('gear', 'ascii'), Buffer.from([Math.floor(i / 8)])])).digest();
    const u = mac.readUInt32LE(4 * (i % 8));
    gear.push(u >= 2 ** 31 ? u - 2 ** 32 : u);
  }
  return gear;
}

/** h is kept as an unsigned number; "h & mask == 0" with the top n bits of mask set means h < 2^(32-n). */
function refCuts(data: Uint8Array, gear: number[], p: ChunkerParams): number[] {
  const bits = Math.round(Math.log2(p.avg));
  const unsignedGear = gear.map((g) => (g < 0 ? g + 2 ** 32 : g));
  const lengths: number[] = [];
  let start = 0;
  while (start < data.length) {
    const remaining = data.length - start;
    let length = Math.min(remaining, p.max);
    let h = 0;
    for (let off = p.min; off < Math.min(remaining, p.max); off++) {
      h = h * 2 + unsignedGear[data[start + off]];
      while (h >= 2 ** 32) h -= 2 ** 32;
      const topBits = off < p.avg ? bits + 2 : bits - 2;
      if (h < 2 ** (32 - topBits)) {
        length = off + 1;
        break;
      }
    }
    lengths.push(length);
    start += length;
  }
  return lengths;
}

// ---- Drivers ----

function memReader(data: Uint8Array, maxRead = Infinity) {
  return (_fd: number, buf: Uint8Array, off: number, len: number, pos: number): number => {
    const n = Math.max(0, Math.min(len, maxRead, data.length - pos));
    buf.set(data.subarray(pos, pos + n), off);
    return n;
  };
}

/** Chunk lengths from chunkFile, checking that the chunks put together give the input back. */
function fileCuts(data: Uint8Array, p: ChunkerParams, maxRead?: number): number[] {
  const lengths: number[] = [];
  const hash = createHash('sha256');
  for (const chunk of chunkFile(-1, new Chunker(GEAR, p), p.max, memReader(data, maxRead))) {
    lengths.push(chunk.length);
    hash.update(chunk);
  }
  assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  return lengths;
}

function directCuts(data: Uint8Array, p: ChunkerParams): number[] {
  const chunker = new Chunker(GEAR, p);
  const lengths: number[] = [];
  for (let s = 0, n; (n = chunker.cut(data, s, data.length, true)) > 0; s += n) lengths.push(n);
  return lengths;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

// ---- Tests ----

test('gear table matches the reference derivation', () => {
  assert.deepEqual(Array.from(GEAR), refGear(KEY));
  assert.notDeepEqual(Array.from(gearTable(Buffer.alloc(32, 3))), Array.from(GEAR));
});

test('golden vector (repository format: must never change)', () => {
  assert.deepEqual([GEAR[0], GEAR[1], GEAR[255]], [18208475, 497860118, -1658884657]);
  const data = keystream(16 * 1024 * 1024);
  const golden = [
    959044, 2032234, 1076231, 1144770, 1071553, 1528613, 1110801, 1384439, 1064914, 875126, 1147556, 1390270,
    1175390, 816275,
  ];
  assert.equal(sum(golden), data.length);
  assert.deepEqual(fileCuts(data, DEFAULT), golden);
  assert.deepEqual(refCuts(data, refGear(KEY), DEFAULT), golden);
});

test('same cut points as the naive reference (small parameters)', () => {
  const gear = refGear(KEY);
  for (const [length, seed] of [[3_000_000, 5], [1_234_567, 6], [65536 * 3 + 17, 7]]) {
    const data = keystream(length, seed);
    const expected = refCuts(data, gear, SMALL);
    assert.deepEqual(directCuts(data, SMALL), expected);
    assert.deepEqual(fileCuts(data, SMALL), expected);
    assert.deepEqual(fileCuts(data, SMALL, 10007), expected, 'short reads');
  }
  const odd: ChunkerParams = { min: 1000, avg: 5000, max: 20001 };
  const data = keystream(2_000_000, 8);
  assert.deepEqual(fileCuts(data, odd), refCuts(data, gear, odd));
});

test('same cut points as the naive reference (tiny parameters: every edge case is hit many times)', () => {
  const gear = refGear(KEY);
  const data = keystream(300_000, 16);
  for (const p of [
    { min: 0, avg: 4, max: 16 },
    { min: 1, avg: 8, max: 64 },
    { min: 3, avg: 16, max: 40 },
    { min: 0, avg: 64, max: 1024 },
    { min: 16, avg: 64, max: 256 },
    { min: 64, avg: 64, max: 65 },
    { min: 100, avg: 300, max: 300 },
  ]) {
    const expected = refCuts(data, gear, p);
    assert.deepEqual(directCuts(data, p), expected, JSON.stringify(p));
    assert.deepEqual(fileCuts(data, p, 777), expected, JSON.stringify(p));
  }
});

test('same cut points as the naive reference (default parameters, 40 MB) and throughput', (t) => {
  const data = keystream(40 * 1000 * 1000, 9);
  const expected = refCuts(data, refGear(KEY), DEFAULT);
  assert.deepEqual(fileCuts(data, DEFAULT), expected);
  assert.deepEqual(fileCuts(data, DEFAULT, 3 * 1024 * 1024 + 1), expected, 'short reads');
  const avg = data.length / expected.length;
  t.diagnostic(`default parameters: ${expected.length} chunks, average ${(avg / 1024).toFixed(0)} KiB`);
  assert.ok(Math.abs(avg - DEFAULT.avg) < 0.3 * DEFAULT.avg, `average chunk ${avg}`);

  const chunker = new Chunker(GEAR, DEFAULT);
  let [wall, cpu] = [0, 0];
  for (let round = 0; round < 5; round++) {
    const [t0, c0] = [process.hrtime.bigint(), process.cpuUsage()];
    for (let s = 0, n; (n = chunker.cut(data, s, data.length, true)) > 0; s += n);
    const c = process.cpuUsage(c0);
    wall = Math.max(wall, data.length / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
    cpu = Math.max(cpu, data.length / ((c.user + c.system) / 1e6) / 1e6);
  }
  t.diagnostic(`chunker throughput (default parameters, in memory, best of 5): ${wall.toFixed(0)} MB/s wall, ${cpu.toFixed(0)} MB/s CPU time`);
});

test('average chunk size is within 30% of avg on random data', () => {
  const data = keystream(16 * 1024 * 1024, 10);
  const avg = data.length / directCuts(data, SMALL).length;
  assert.ok(Math.abs(avg - SMALL.avg) < 0.3 * SMALL.avg, `average chunk ${avg}`);
});

test('boundaries are content-defined: an insertion at the start changes only the first chunks', () => {
  const data = keystream(4 * 1024 * 1024, 11);
  const chunkHashes = (d: Buffer) => {
    const out: string[] = [];
    for (const c of chunkFile(-1, new Chunker(GEAR, SMALL), SMALL.max, memReader(d))) out.push(createHash('sha256').update(c).digest('hex'));
    return out;
  };
  const before = chunkHashes(data);
  for (const inserted of [1, 100, 5000]) {
    const after = chunkHashes(Buffer.concat([keystream(inserted, 12), data]));
    const common = new Set(before);
    const changed = after.filter((h) => !common.has(h));
    const kept = after.length - changed.length;
    assert.ok(changed.length <= 2 && before.length - kept <= 2, `${changed.length} chunks changed`);
    assert.deepEqual(after.slice(changed.length), before.slice(before.length - kept));
  }
});

test('small, empty and exactly-max inputs', () => {
  assert.deepEqual(fileCuts(Buffer.alloc(0), SMALL), []);
  assert.deepEqual(fileCuts(Buffer.alloc(0), DEFAULT), []);
  assert.deepEqual(fileCuts(keystream(1), SMALL), [1]);
  assert.deepEqual(fileCuts(keystream(SMALL.min - 1), SMALL), [SMALL.min - 1]);
  assert.deepEqual(fileCuts(keystream(SMALL.min), SMALL), [SMALL.min]);
  assert.deepEqual(fileCuts(keystream(100_000), DEFAULT), [100_000]);
  const gear = refGear(KEY);
  for (const len of [SMALL.max, SMALL.max + 1, SMALL.min + 1]) {
    const data = keystream(len, 13);
    assert.deepEqual(fileCuts(data, SMALL), refCuts(data, gear, SMALL));
  }
  // A constant byte whose hash never matches: cuts fall exactly at max.
  const c = [...Array(256).keys()].find((b) => refCuts(Buffer.alloc(3 * SMALL.max, b), gear, SMALL).length === 3);
  assert.ok(c !== undefined);
  assert.deepEqual(fileCuts(Buffer.alloc(SMALL.max, c), SMALL), [SMALL.max]);
  assert.deepEqual(fileCuts(Buffer.alloc(SMALL.max + 1, c), SMALL), [SMALL.max, 1]);
  assert.deepEqual(fileCuts(Buffer.alloc(2 * SMALL.max + 100, c), SMALL), [SMALL.max, SMALL.max, 100]);
});

test('cut() contract', () => {
  const chunker = new Chunker(GEAR, SMALL);
  const data = keystream(SMALL.max * 2, 14);
  assert.equal(chunker.cut(data, 0, 0, true), 0);
  assert.equal(chunker.cut(data, 0, 0, false), -1);
  assert.equal(chunker.cut(data, 5, 5 + SMALL.min, false), -1);
  assert.equal(chunker.cut(data, 5, 5 + 100, true), 100);
  const n = chunker.cut(data, 7, data.length, false);
  assert.ok(n > SMALL.min && n <= SMALL.max);
  assert.equal(chunker.cut(data, 7, 7 + n, false), n, 'a boundary found needs no more data');
  assert.equal(chunker.cut(data, 7, 7 + n - 1, false), -1);
  assert.equal(chunker.cut(data, 7, 7 + n - 1, true), n - 1);
  assert.throws(() => new Chunker(GEAR, { min: 10, avg: 5, max: 100 }), RangeError);
  assert.throws(() => new Chunker(new Int32Array(10), SMALL), RangeError);
});

test('the native byte loop refuses a range outside its buffer or a malformed state', () => {
  const state = new Int32Array(258);
  const buf = Buffer.alloc(100);
  const scan = addon().gearScan;
  assert.equal(scan(state, buf, 0, 0, 50, 100), 1, 'h = 0 after the first byte: a boundary with any mask');
  assert.throws(() => scan(state, buf, 0, 0, 50, 101), /"limit"/);
  assert.throws(() => scan(state, buf, 0, 0, 101, 100), /"mid"/);
  assert.throws(() => scan(state, buf, 0, 101, 50, 100), /"from"/);
  assert.throws(() => scan(state, buf, 60, 50, 50, 100), /"warm"/);
  assert.throws(() => scan(state, buf, 0, -1, 50, 100), /"from"/);
  assert.throws(() => scan(new Int32Array(256), buf, 0, 0, 50, 100), /258/);
  assert.throws(() => scan(state, new Uint16Array(50) as unknown as Uint8Array, 0, 0, 50, 100), /Uint8Array/);
});

test('cut() resumes where an earlier call stopped, with the same result', () => {
  for (const p of [SMALL, { min: 20, avg: 64, max: 300 }]) {
    const chunker = new Chunker(GEAR, p);
    const data = keystream(p.max * 40, 21);
    let checked = 0;
    for (let k = 0; k < 40; k++) {
      const s = (k * 7919 * 31) % (data.length - 2 * p.max);
      for (let e = s; e < s + p.max; e += 1 + (e % Math.ceil(p.max / 40))) {
        if (chunker.cut(data, s, e, false) !== -1) break;
        // e - s bytes were tested: any longer range resumed there cuts where a fresh scan does
        for (const e2 of [e, e + 1, e + 31, e + 33, e + 500, s + p.max, s + p.max + 7]) {
          assert.equal(chunker.cut(data, s, e2, false, e - s), chunker.cut(data, s, e2, false), `start ${s}, scanned ${e - s}, end ${e2}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 500, `${checked} resumed cuts checked`);
  }
});

test('a large file is read a step at a time: the buffer is touched up to the longest chunk + 1 MiB', () => {
  const data = keystream(24 * 1024 * 1024, 22);
  let touched = 0;
  const read = memReader(data);
  const lengths: number[] = [];
  const reader = (fd: number, buf: Uint8Array, off: number, len: number, pos: number): number => {
    touched = Math.max(touched, off + len);
    return read(fd, buf, off, len, pos);
  };
  for (const chunk of chunkFile(-1, new Chunker(GEAR, DEFAULT), DEFAULT.max, reader)) lengths.push(chunk.length);
  assert.deepEqual(lengths, refCuts(data, refGear(KEY), DEFAULT));
  const longest = Math.max(...lengths);
  assert.ok(longest < 4 * 1024 * 1024, `longest chunk ${longest}`);
  assert.ok(touched <= longest + 1024 * 1024, `buffer touched up to ${touched}, longest chunk ${longest}`);
});

test('a scratch object reuses the read buffers from one file to the next', () => {
  const chunker = new Chunker(GEAR, SMALL);
  const scratch: ChunkScratch = {};
  let full: Buffer | undefined;
  for (const [length, seed] of [[20_000_000, 17], [0, 0], [5000, 18], [9_000_000, 19], [100, 20]]) {
    const data = keystream(length, seed);
    const lengths: number[] = [];
    const hash = createHash('sha256');
    for (const chunk of chunkFile(-1, chunker, SMALL.max, memReader(data, 1 << 20), scratch)) {
      lengths.push(chunk.length);
      hash.update(chunk);
    }
    assert.deepEqual(lengths, directCuts(data, SMALL));
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    full ??= scratch.full;
    assert.equal(scratch.full, full, 'the large buffer is allocated once');
  }
});

test('a real file larger than the read buffer streams through fs.readSync', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashback-chunker-'));
  try {
    const data = keystream(20 * 1024 * 1024 + 12345, 15);
    const path = join(dir, 'big');
    writeFileSync(path, data);
    const fd = openSync(path, 'r');
    try {
      const hash = createHash('sha256');
      const lengths: number[] = [];
      for (const chunk of chunkFile(fd, new Chunker(GEAR, SMALL), SMALL.max)) {
        lengths.push(chunk.length);
        hash.update(chunk);
      }
      assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
      assert.deepEqual(lengths, directCuts(data, SMALL));
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
