import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { BlobIndex, type BlobLocation, type SharedBlobIndexState } from '../src/core/index/blob-index.js';
import { hexToId, idToHex } from '../src/core/util/hex.js';
import { indexPackNumbers } from '../src/core/pack/format.js';

const MODULE_URL = new URL('../src/core/index/blob-index.js', import.meta.url).href;

function locFor(i: number): BlobLocation {
  return {
    pack: i % 977,
    offset: Math.imul(i, 2654435761) >>> 0,
    length: i,
    rawLength: 0xffffffff - i,
    type: (i & 1) as 0 | 1,
    compression: ((i >> 1) & 1) as 0 | 1,
  };
}

const idAt = (ids: Uint8Array, i: number) => ids.subarray(32 * i, 32 * i + 32);

function fill(index: BlobIndex, ids: Uint8Array, from = 0): void {
  for (let i = 0; i < ids.length / 32; i++) assert.ok(index.add(idAt(ids, i), locFor(from + i)));
}

/** Looks every id up in a worker thread holding only the shared state. */
function lookUpInWorker(state: SharedBlobIndexState, ids: Uint8Array) {
  const queries = new Uint8Array(new SharedArrayBuffer(ids.length));
  queries.set(ids);
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.moduleUrl).then(({ BlobIndex }) => {
      const reader = BlobIndex.fromShared(workerData.state);
      const q = new Uint8Array(workerData.queries);
      const results = [];
      for (let i = 0; i < q.length / 32; i++) results.push(reader.get(q.subarray(32 * i, 32 * i + 32)) ?? null);
      parentPort.postMessage({ size: reader.size, packCount: reader.packCount, firstPack: reader.packCount ? reader.packId(0) : '', results });
    });`;
  return new Promise<{ size: number; packCount: number; firstPack: string; results: (BlobLocation | null)[] }>((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { state, queries: queries.buffer, moduleUrl: MODULE_URL } });
    worker.once('message', (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/** A copy of every byte of the shared buffers, to prove they are not written after share(). */
function snapshotBytes(state: SharedBlobIndexState): Buffer {
  const parts: Buffer[] = [Buffer.from(new Uint8Array(state.packIds))];
  for (const t of state.tables) {
    for (const sab of [t.slots, ...t.blocks]) parts.push(Buffer.from(new Uint8Array(sab)));
  }
  return Buffer.concat(parts);
}

test('hex helpers', () => {
  const id = randomBytes(32);
  const hex = idToHex(id);
  assert.match(hex, /^[0-9a-f]{64}$/);
  assert.deepEqual(hexToId(hex), id);
  assert.equal(idToHex(Buffer.concat([Buffer.alloc(5), id]).subarray(5)), hex);
  for (const bad of [hex.toUpperCase(), hex.slice(1), `${hex}0`, `${hex.slice(2)}zz`, '']) {
    assert.throws(() => hexToId(bad), /not an id/);
  }
  assert.throws(() => idToHex(new Uint8Array(31)), RangeError);
});

test('add/has/get for 200k random ids, duplicates, growth and entries()', () => {
  const n = 200_000;
  const ids = randomBytes(32 * n);
  const index = new BlobIndex();
  const before = index.memoryBytes();
  fill(index, ids);
  assert.equal(index.size, n);
  assert.ok(index.memoryBytes() > before);
  for (let i = 0; i < n; i++) assert.deepEqual(index.get(idAt(ids, i)), locFor(i));
  const others = randomBytes(32 * n);
  for (let i = 0; i < n; i++) {
    assert.equal(index.has(idAt(others, i)), false);
    assert.equal(index.get(idAt(others, i)), undefined);
  }
  for (let i = 0; i < n; i += 101) assert.equal(index.add(Buffer.from(idAt(ids, i)), locFor(i + 1)), false);
  assert.equal(index.size, n);
  assert.deepEqual(index.get(idAt(ids, 0)), locFor(0));

  let i = 0;
  for (const { id, loc } of index.entries()) {
    assert.deepEqual(id, Buffer.from(idAt(ids, i)));
    assert.deepEqual(loc, locFor(i));
    id.fill(0);
    i++;
  }
  assert.equal(i, n);
  assert.ok(index.has(idAt(ids, 0)), 'entries() hands out copies');
});

test('rejects malformed ids and locations', () => {
  const index = new BlobIndex(4);
  assert.throws(() => index.add(new Uint8Array(31), locFor(1)), RangeError);
  assert.throws(() => index.has(new Uint8Array(33)), RangeError);
  assert.throws(() => index.add(randomBytes(32), { ...locFor(1), offset: 2 ** 32 }), RangeError);
  assert.throws(() => index.add(randomBytes(32), { ...locFor(1), length: -1 }), RangeError);
  assert.throws(() => index.add(randomBytes(32), { ...locFor(1), type: 2 as 0 }), RangeError);
  assert.equal(index.size, 0);
  const id = Buffer.alloc(32);
  assert.ok(index.add(id, locFor(7)));
  assert.deepEqual(index.get(Buffer.alloc(32)), locFor(7));
});

test('pack ids are interned', () => {
  const index = new BlobIndex();
  const packs = Array.from({ length: 1000 }, () => randomBytes(32).toString('hex'));
  packs.forEach((p, n) => assert.equal(index.packNumber(p), n));
  packs.forEach((p, n) => assert.equal(index.packNumber(p), n));
  assert.equal(index.packCount, 1000);
  packs.forEach((p, n) => assert.equal(index.packId(n), p));
  assert.throws(() => index.packId(1000), RangeError);
  assert.throws(() => index.packNumber('xyz'), /not an id/);
  assert.equal(index.packCount, 1000);
});

test('share(): worker threads read the frozen tables, later adds go to a delta', async () => {
  const index = new BlobIndex();
  const packs = Array.from({ length: 977 }, () => randomBytes(32).toString('hex'));
  for (const p of packs) index.packNumber(p);
  const n = 100_000;
  const ids = randomBytes(32 * n);
  fill(index, ids);
  const state = index.share();
  assert.ok(Object.isFrozen(state) && state.tables.every((t) => t.slots instanceof SharedArrayBuffer));
  const frozenBytes = snapshotBytes(state);

  const later = randomBytes(32 * 50_000);
  fill(index, later, n);
  assert.equal(index.add(idAt(ids, 5), locFor(1)), false, 'duplicate of a frozen entry');
  assert.equal(index.size, n + 50_000);
  for (let i = 0; i < n; i += 7) assert.deepEqual(index.get(idAt(ids, i)), locFor(i));
  for (let i = 0; i < 50_000; i++) assert.deepEqual(index.get(idAt(later, i)), locFor(n + i));
  assert.ok(snapshotBytes(state).equals(frozenBytes), 'shared buffers are never written after share()');

  const queries = Buffer.concat([ids.subarray(0, 32 * 20_000), later.subarray(0, 32 * 1000)]);
  const w = await lookUpInWorker(state, queries);
  assert.equal(w.size, n);
  assert.equal(w.packCount, packs.length);
  assert.equal(w.firstPack, packs[0]);
  for (let i = 0; i < 20_000; i++) assert.deepEqual(w.results[i], locFor(i));
  for (let i = 20_000; i < 21_000; i++) assert.equal(w.results[i], null);

  const reader = BlobIndex.fromShared(state);
  assert.ok(reader.has(idAt(ids, 3)) && !reader.has(idAt(later, 3)));

  const state2 = index.share();
  const w2 = await lookUpInWorker(state2, queries);
  assert.equal(w2.size, n + 50_000);
  for (let i = 0; i < 20_000; i++) assert.deepEqual(w2.results[i], locFor(i));
  for (let i = 0; i < 1000; i++) assert.deepEqual(w2.results[20_000 + i], locFor(n + i));
  assert.ok(snapshotBytes(state).equals(frozenBytes));
  assert.equal([...index.entries()].length, n + 50_000);
});

test('repeated share() keeps few tables and loses nothing', () => {
  const index = new BlobIndex();
  const ids = randomBytes(32 * 30_000);
  fill(index, ids.subarray(0, 32 * 10_000));
  const states: { state: SharedBlobIndexState; bytes: Buffer }[] = [];
  for (let round = 0; round < 40; round++) {
    fill(index, ids.subarray(32 * (10_000 + 500 * round), 32 * (10_500 + 500 * round)), 10_000 + 500 * round);
    const state = index.share();
    states.push({ state, bytes: snapshotBytes(state) });
    assert.ok(state.tables.length <= 8, `${state.tables.length} tables`);
    const reader = BlobIndex.fromShared(state);
    assert.equal(reader.size, 10_500 + 500 * round);
    assert.deepEqual(reader.get(idAt(ids, 10_000 + 500 * round)), locFor(10_000 + 500 * round));
  }
  assert.equal(index.share().tables.length, states[states.length - 1].state.tables.length, 'nothing new: same tables');
  for (let i = 0; i < 30_000; i++) assert.deepEqual(index.get(idAt(ids, i)), locFor(i));
  for (const { state, bytes } of states) assert.ok(snapshotBytes(state).equals(bytes));
  assert.equal(BlobIndex.fromShared(new BlobIndex().share()).has(idAt(ids, 0)), false);
});

test('memory: fewer than 80 bytes per blob at 1M blobs', (t) => {
  const n = 1_000_000;
  const ids = randomBytes(32 * n);
  const index = new BlobIndex();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) index.add(idAt(ids, i), locFor(i));
  const t1 = process.hrtime.bigint();
  let found = 0;
  for (let i = 0; i < n; i++) if (index.has(idAt(ids, i))) found++;
  const t2 = process.hrtime.bigint();
  assert.equal(found, n);
  const perBlob = index.memoryBytes() / index.size;
  t.diagnostic(`${index.size} blobs, ${(index.memoryBytes() / 2 ** 20).toFixed(1)} MiB, ${perBlob.toFixed(1)} bytes per blob`);
  t.diagnostic(`add ${(Number(t1 - t0) / n).toFixed(0)} ns/blob, has ${(Number(t2 - t1) / n).toFixed(0)} ns/blob`);
  assert.ok(perBlob < 80, `${perBlob} bytes per blob`);
});

test('forEachEntry() visits every entry once across tables; entryAt(ref) returns that entry', () => {
  const index = new BlobIndex();
  const ids = randomBytes(32 * 5000);
  fill(index, ids.subarray(0, 32 * 3000));
  index.share(); // a frozen table plus a delta
  fill(index, ids.subarray(32 * 3000), 3000);
  const seen = new Map<string, number>();
  index.forEachEntry((ref, loc) => {
    const { id, loc: at } = index.entryAt(ref);
    assert.deepEqual(at, loc);
    seen.set(idToHex(id), ref);
  });
  assert.equal(seen.size, 5000);
  for (let i = 0; i < 5000; i += 97) assert.deepEqual(index.entryAt(seen.get(idToHex(idAt(ids, i)))!).loc, locFor(i));
  assert.throws(() => index.entryAt(5000), RangeError);
  assert.throws(() => index.entryAt(-1), RangeError);
});

/**
 * An index body as pack/format.ts writes it: version 1, the packs (id, entry count, entries of 46 bytes: type,
 * compression, id, offset, length, rawLength), no superseded files. runs: which ids go into each pack.
 */
function body(ids: Uint8Array, runs: { pack: string; from: number; count: number; first: number }[]): Buffer {
  const parts: Buffer[] = [Buffer.from([1, 0, 0, 0, 0])];
  parts[0].writeUInt32LE(runs.length, 1);
  for (const r of runs) {
    const head = Buffer.alloc(36);
    head.write(r.pack, 0, 'hex');
    head.writeUInt32LE(r.count, 32);
    const out = Buffer.alloc(r.count * 46);
    for (let j = 0; j < r.count; j++) {
      const loc = locFor(r.first + j);
      const e = j * 46;
      out[e] = loc.type;
      out[e + 1] = loc.compression;
      out.set(idAt(ids, r.from + j), e + 2);
      out.writeUInt32LE(loc.offset, e + 34);
      out.writeUInt32LE(loc.length, e + 38);
      out.writeUInt32LE(loc.rawLength, e + 42);
    }
    parts.push(head, out);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

const packHex = (i: number) => i.toString(16).padStart(64, '0');

test('addBody (native index loading) builds exactly the table add() builds, duplicates and growth included', () => {
  const n = 150_000; // three blocks of 64 Ki entries
  const ids = randomBytes(32 * n);
  const runs: { pack: string; from: number; count: number; first: number }[] = [];
  for (let from = 0, p = 0; from < n; from += 997, p++) runs.push({ pack: packHex(p), from, count: Math.min(997, n - from), first: from });
  // duplicates: a run repeated in another pack, and one overlapping two others (add() keeps the first location)
  runs.push({ pack: packHex(9000), from: 0, count: 100, first: 500_000 }, { pack: packHex(9001), from: 990, count: 50, first: 600_000 });
  const files = [runs.slice(0, 60), runs.slice(60, 61), runs.slice(61)]; // three index files
  const byAdd = new BlobIndex();
  const byBody = new BlobIndex();
  for (const f of files) {
    const b = body(ids, f);
    const packs = indexPackNumbers(b, (hex) => byBody.packNumber(hex));
    let added = 0;
    for (const r of f) {
      const pack = byAdd.packNumber(r.pack);
      for (let j = 0; j < r.count; j++) if (byAdd.add(idAt(ids, r.from + j), { ...locFor(r.first + j), pack })) added++;
    }
    assert.equal(byBody.addBody(b, packs), added);
  }
  assert.equal(byBody.size, n);
  assert.equal(byAdd.size, n);
  for (let i = 0; i < n; i++) {
    const id = idAt(ids, i);
    assert.deepEqual(byBody.get(id), byAdd.get(id));
    assert.equal(byBody.ordinal(id), byAdd.ordinal(id));
  }
  assert.equal(byBody.get(randomBytes(32)), undefined);
  // the frozen table answers in workers like any other
  const state = byBody.share();
  assert.equal(BlobIndex.fromShared(state).get(idAt(ids, n - 1))?.length, locFor(n - 1).length);
});

test('addBody: a bad body adds nothing; after share() the frozen tables are looked in first', () => {
  const ids = randomBytes(32 * 40);
  const index = new BlobIndex();
  const numbers = (b: Buffer) => indexPackNumbers(b, (hex) => index.packNumber(hex));
  const bad = body(ids, [{ pack: packHex(1), from: 0, count: 4, first: 0 }, { pack: packHex(2), from: 4, count: 6, first: 4 }]);
  const at = 5 + 36 + 4 * 46 + 36 + 46; // the second pack's second entry
  bad[at] = 2; // type 2
  const packs = numbers(bad);
  assert.throws(() => index.addBody(bad, packs), new RegExp(`invalid entry at ${at}`));
  assert.equal(index.size, 0);
  const good = body(ids, [{ pack: packHex(1), from: 0, count: 20, first: 0 }]);
  assert.throws(() => numbers(good.subarray(0, good.length - 10)), /truncated/);
  assert.throws(() => numbers(Buffer.concat([good, Buffer.alloc(1)])), /trailing bytes/);
  assert.throws(() => index.addBody(good.subarray(0, 100), numbers(good)), /truncated/);
  assert.equal(index.size, 0);
  assert.equal(index.addBody(good, numbers(good)), 20);
  index.share();
  // the delta table: ids 10..19 are in the frozen table already, 20..39 are new
  const more = body(ids, [{ pack: packHex(3), from: 10, count: 30, first: 1000 }]);
  assert.equal(index.addBody(more, numbers(more)), 20);
  assert.equal(index.packId(index.get(idAt(ids, 15))!.pack), packHex(1));
  assert.equal(index.packId(index.get(idAt(ids, 25))!.pack), packHex(3));
  assert.equal(index.get(idAt(ids, 25))?.offset, locFor(1015).offset);
  assert.throws(() => index.addBody(bad, packs), new RegExp(`invalid entry at ${at}`));
  assert.equal(index.size, 40);
});
