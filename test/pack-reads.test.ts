/**
 * The blob workers read local packs themselves (Backend.localPath); the packs of another kind of backend are
 * loaded by the main thread and handed over. check --read-data verifies each pack in slices, one per worker
 * (checker.ts sliceByWork). Damage anywhere in a pack (first slice, last slice, header) and an unreadable pack
 * are reported the same both ways, by check and by restore; intact files restore the same both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { makeRepo, notLocal, PASSWORD, type TestRepo } from './helpers/repo.js';
import { prng } from './helpers/fixtures.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { Checker, sliceByWork, type Problem } from '../src/core/checker/checker.js';
import { Restorer } from '../src/core/restorer/restorer.js';
import { PackTable, type PackBlob } from '../src/core/index/pack-table.js';

function blob(offset: number, length: number, rawLength: number, type: 0 | 1 = 0): PackBlob {
  return { id: Buffer.alloc(32, offset & 0xff), loc: { pack: 0, offset, length, rawLength, type, compression: 1 } };
}

test('sliceByWork: every blob once, in pack order, in at most n runs of about equal work', () => {
  // given out of order: slices come in pack order
  const blobs = Array.from({ length: 100 }, (_, i) => blob((99 - i) * 1000, 1000, 4000));
  const slices = sliceByWork(blobs, 2);
  assert.equal(slices.length, 2);
  const flat = slices.flat();
  assert.deepEqual(flat.map((b) => b.loc.offset), [...blobs].map((b) => b.loc.offset).sort((a, b) => a - b));
  // slice 0 also hashes the 100 KB pack (worth 20 blobs of 5 KB work): it gets ≈ 40 blobs, slice 1 ≈ 60
  assert.ok(Math.abs(slices[0].length - 40) <= 1 && Math.abs(slices[1].length - 60) <= 1, String(slices.map((s) => s.length)));
  // trees weigh more: one big tree balances many data blobs
  const mixed = [blob(0, 1000, 10_000, 1), ...Array.from({ length: 30 }, (_, i) => blob(1000 + i * 1000, 1000, 4000))];
  const [a, b] = sliceByWork(mixed, 2);
  assert.equal(a[0].loc.type, 1);
  assert.ok(a.length < b.length, `${a.length} vs ${b.length}`);
  assert.deepEqual(sliceByWork(blobs, 1), [flat]);
  assert.deepEqual(sliceByWork([], 2), [[]], 'the first slice is always there: it hashes the pack');
  const one = sliceByWork([blob(0, 10, 10)], 4);
  assert.equal(one.flat().length, 1);
});

async function repoWithOnePack(): Promise<{ r: TestRepo; src: string; pack: string; blobs: PackBlob[] }> {
  const r = await makeRepo();
  const src = join(r.dir, 'src');
  mkdirSync(src);
  // many files of one blob each: one data pack of ~60 blobs, which check splits between the workers
  for (let i = 0; i < 60; i++) writeFileSync(join(src, `f${String(i).padStart(2, '0')}.bin`), prng(`f${i}`, 20_000 + i * 97));
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  await repo.loadIndex();
  const table = new PackTable(repo.index);
  const data = table.packIds().filter((p) => table.blobs(p).every((x) => x.loc.type === 0));
  assert.equal(data.length, 1);
  return { r, src, pack: data[0], blobs: table.blobs(data[0]).sort((x, y) => x.loc.offset - y.loc.offset) };
}

async function check(r: TestRepo, local: boolean): Promise<{ problems: Problem[]; packsRead: number }> {
  const backend = new LocalBackend(r.repo);
  const repo = await Repository.open(local ? backend : notLocal(backend), PASSWORD);
  const res = await new Checker(repo, { readData: true }).run();
  return { problems: res.problems, packsRead: res.packsRead };
}

const packFile = (r: TestRepo, id: string) => join(r.repo, 'data', id.slice(0, 2), id);
const summary = (ps: Problem[]) => ps.map((p) => `${p.kind} ${p.message} [${[...(p.blobs ?? [])].sort().join(',')}]`).sort();

test('damage in the first and the last slice of a pack is found, read by the workers or handed over', async (t) => {
  const { r, pack, blobs } = await repoWithOnePack();
  t.after(() => r.cleanup());
  for (const local of [true, false]) assert.deepEqual((await check(r, local)).problems, [], 'intact');
  const file = packFile(r, pack);
  const bytes = readFileSync(file);
  const [first, last] = [blobs[0], blobs[blobs.length - 1]];
  for (const b of [first, last]) bytes[b.loc.offset + 50] ^= 0x01;
  writeFileSync(file, bytes);
  const runs = [await check(r, true), await check(r, false)];
  for (const { problems, packsRead } of runs) {
    assert.ok(packsRead >= 2);
    const damaged = problems.find((p) => p.kind === 'blob')!;
    assert.deepEqual([...damaged.blobs!].sort(), [first.id.toString('hex'), last.id.toString('hex')].sort());
    assert.match(damaged.message, new RegExp(`^2 of ${blobs.length} blob`));
    assert.ok(problems.some((p) => p.kind === 'pack' && /does not match its name/.test(p.message) && p.file.endsWith(pack)));
  }
  assert.deepEqual(summary(runs[0].problems), summary(runs[1].problems), 'the same report both ways');
});

test('a damaged pack header and an unreadable pack: reported from the workers, both ways', async (t) => {
  const { r, pack, blobs } = await repoWithOnePack();
  t.after(() => r.cleanup());
  const file = packFile(r, pack);
  const bytes = readFileSync(file);
  bytes[bytes.length - 10] ^= 0x01; // inside the sealed header
  writeFileSync(file, bytes);
  for (const local of [true, false]) {
    const { problems } = await check(r, local);
    assert.ok(problems.some((p) => p.kind === 'pack' && /header fails authentication/.test(p.message)), JSON.stringify(problems));
    assert.ok(!problems.some((p) => p.kind === 'blob'), 'the blobs themselves are intact');
  }
  // a directory where the pack should be: it cannot be read, and every blob of it is named
  rmSync(file);
  mkdirSync(file);
  assert.ok(statSync(file).isDirectory());
  for (const local of [true, false]) {
    const { problems } = await check(r, local);
    const unreadable = problems.find((p) => p.kind === 'pack' && /cannot read/.test(p.message));
    assert.ok(unreadable, JSON.stringify(problems));
    assert.equal(unreadable.blobs?.length, blobs.length);
  }
  assert.ok(readdirSync(join(r.repo, 'data', pack.slice(0, 2))).includes(pack), 'check changed nothing');
});

async function restore(r: TestRepo, local: boolean, target: string): Promise<{ errors: string[]; files: number }> {
  const backend = new LocalBackend(r.repo);
  const repo = await Repository.open(local ? backend : notLocal(backend), PASSWORD);
  const sn = await repo.snapshots.resolve('latest');
  const errors: string[] = [];
  const st = await new Restorer(repo, sn.snapshot.tree, { target, warn: (w) => errors.push(`${w.path.split('/').pop()}: ${w.message}`) }).run();
  return { errors: errors.sort(), files: st.files };
}

test('restore: the same files both ways; a damaged blob and a truncated pack fail only their files', async (t) => {
  const { r, src, pack, blobs } = await repoWithOnePack();
  t.after(() => r.cleanup());
  const names = readdirSync(src).sort();
  const restored = (out: string, name: string) => readFileSync(join(out, src, name));
  for (const local of [true, false]) {
    const out = join(r.dir, `intact-${local}`);
    assert.deepEqual(await restore(r, local, out), { errors: [], files: names.length });
    for (const n of names) assert.ok(restored(out, n).equals(readFileSync(join(src, n))), n);
  }
  // the last blob of the pack damaged: its file fails, the others are intact
  const file = packFile(r, pack);
  const bytes = readFileSync(file);
  const last = blobs[blobs.length - 1];
  bytes[last.loc.offset + 50] ^= 0x01;
  writeFileSync(file, bytes);
  const runs = [await restore(r, true, join(r.dir, 'damaged-local')), await restore(r, false, join(r.dir, 'damaged-other'))];
  for (const { errors } of runs) {
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /^f\d\d\.bin: .*blob [0-9a-f]{64} fails authentication/);
  }
  assert.equal(runs[0].errors[0], runs[1].errors[0]);
  const bad = runs[0].errors[0].split(':')[0];
  for (const n of names.filter((x) => x !== bad)) assert.ok(restored(join(r.dir, 'damaged-local'), n).equals(readFileSync(join(src, n))), n);
  // cut in the middle: every file whose blob lay beyond the cut fails as truncated, the ones before it restore
  writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
  for (const local of [true, false]) {
    const { errors, files } = await restore(r, local, join(r.dir, `cut-${local}`));
    assert.ok(errors.length > 0 && errors.every((e) => /truncated/.test(e)), errors.join('\n'));
    assert.equal(files, names.length, 'every file is finished, the failed ones too');
    assert.ok(errors.length < names.length, 'the files before the cut restore');
  }
});
