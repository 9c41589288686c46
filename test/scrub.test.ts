/**
 * Scrub that remembers (design.md §13): records of when each pack was verified, least recently verified first,
 * budgets, coverage, tampered and future-dated records, consolidation, damage kept first in line.
 * Real repositories with small packs (about 25 per test), the real CLI binary and the core Checker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { makeRepo, PASSWORD, type TestRepo } from './helpers/repo.js';
import { cliPath } from './helpers/cli.js';
import { prng } from './helpers/fixtures.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { DEFAULT_KDF } from '../src/core/model/keyslot.js';
import { Checker } from '../src/core/checker/checker.js';
import { scrubOrder } from '../src/core/checker/scrub-plan.js';
import { loadScrubState, saveScrubRecord, type PackVerification } from '../src/core/repository/scrub-records.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-10-01T08:00:00.000Z');

/** A repository with 64 KiB packs and a 16/32/64 KiB chunker, holding one snapshot of ~1.3 MB in 13 files. */
async function smallPackRepo(): Promise<{ r: TestRepo; src: string }> {
  const r = await makeRepo(false);
  await Repository.init(new LocalBackend(r.repo), PASSWORD, {
    kdf: { ...DEFAULT_KDF, n: 1024 },
    packSize: 64 * 1024,
    chunker: { algorithm: 'fastcdc-gear32', min: 16 * 1024, avg: 32 * 1024, max: 64 * 1024 },
  });
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'photos'), { recursive: true });
  // about 30 packs of 64 KiB (how blobs fall into packs varies with worker timing: keep a margin above 16)
  for (let i = 0; i < 20; i++) writeFileSync(join(src, 'photos', `img-${String(i).padStart(2, '0')}.jpg`), prng(`img${i}`, 100 * 1024));
  writeFileSync(join(src, 'notes.txt'), 'remember the milk\n');
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  return { r, src };
}

/** pack id → size, for every pack on the device */
function packsOnDevice(repo: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of readdirSync(join(repo, 'data'))) {
    for (const f of readdirSync(join(repo, 'data', d))) if (/^[0-9a-f]{64}$/.test(f)) m.set(f, statSync(join(repo, 'data', d, f)).size);
  }
  return m;
}

const packPath = (repo: string, id: string) => join(repo, 'data', id.slice(0, 2), id);
const records = (repo: string) => {
  try {
    return readdirSync(join(repo, 'scrub')).filter((f) => /^[0-9a-f]{64}$/.test(f)).sort();
  } catch {
    return [];
  }
};

function flipByte(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] ^= 0x40;
  writeFileSync(path, b);
}

async function open(r: TestRepo): Promise<Repository> {
  return Repository.open(new LocalBackend(r.repo), PASSWORD);
}

async function scrubState(r: TestRepo, now = Date.now()): Promise<Map<string, PackVerification>> {
  return (await loadScrubState(await open(r), now)).packs;
}

/** The packs whose verification changed between two states. */
function readBetween(before: Map<string, PackVerification>, after: Map<string, PackVerification>): string[] {
  return [...after].filter(([id, v]) => before.get(id)?.time !== v.time).map(([id]) => id).sort();
}

async function checkJson(r: TestRepo, args: string[]) {
  const c = await r.run(['--json', 'check', ...args]);
  const line = c.stdout.trim().split('\n').pop()!;
  return { code: c.code, stderr: c.stderr, j: JSON.parse(line) };
}

test('scrubOrder: damaged first, then never verified, then oldest; ties by pack id', () => {
  const id = (c: string) => c.repeat(64);
  const state = new Map<string, PackVerification>([
    [id('1'), { time: T0 + 5 * DAY, verdict: 'ok' }],
    [id('2'), { time: T0 + 1 * DAY, verdict: 'ok' }],
    [id('3'), { time: T0 + 9 * DAY, verdict: 'damaged', blobs: [] }],
    [id('4'), { time: T0 + 1 * DAY, verdict: 'ok' }],
  ]);
  const order = scrubOrder([id('1'), id('2'), id('3'), id('4'), id('6'), id('5')], state);
  assert.deepEqual(order, [id('3'), id('5'), id('6'), id('2'), id('4'), id('1')]);
});

test('--max-bytes slices cover every pack before any is read twice; coverage figures follow', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const total = [...device.values()].reduce((a, b) => a + b, 0);
  assert.ok(device.size >= 15, `expected many small packs, got ${device.size}`);
  assert.equal(records(r.repo).length, 0);
  const plain = await checkJson(r, []);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.j.scrub.packs_verified, 0);
  assert.equal(plain.j.scrub.packs_never_verified, device.size);
  assert.equal(plain.j.scrub.bytes_total, total);
  assert.equal(plain.j.scrub.oldest_verification, null);
  assert.equal(records(r.repo).length, 0, 'check without --read-data writes no record');

  const seen = new Set<string>();
  const slices: string[][] = [];
  let before = await scrubState(r);
  for (let run = 0; seen.size < device.size; run++) {
    assert.ok(run < device.size, 'every run reads at least one pack');
    const c = await checkJson(r, ['--max-bytes', '200K']);
    assert.equal(c.code, 0, c.stderr);
    const after = await scrubState(r);
    const slice = readBetween(before, after);
    assert.equal(slice.length, c.j.packs_read);
    const again = slice.filter((p) => seen.has(p));
    for (const p of slice) seen.add(p);
    // a pack is read a second time only in the run that completes the first pass, with budget left over,
    // and then the one verified longest ago (in the first slice)
    if (again.length) {
      assert.equal(seen.size, device.size, `pack(s) ${again} read twice before every pack was read once`);
      for (const p of again) assert.ok(slices[0].includes(p), 'the second pass starts with the oldest verifications');
    }
    slices.push(slice);
    const bytes = [...seen].reduce((n, p) => n + device.get(p)!, 0);
    assert.equal(c.j.scrub.packs_verified, seen.size);
    assert.equal(c.j.scrub.packs_total, device.size);
    assert.equal(c.j.scrub.bytes_verified, bytes);
    assert.equal(c.j.scrub.bytes_total, total);
    assert.equal(c.j.scrub.packs_never_verified, device.size - seen.size);
    assert.equal(c.j.scrub.oldest_verification_days, 0);
    if (seen.size < device.size) assert.equal(c.j.scrub.stopped, 'budget');
    // the budget is about 200 KiB: started packs reached it, one pack less did not
    const sliceBytes = slice.reduce((s, p) => s + device.get(p)!, 0);
    if (seen.size < device.size) assert.ok(sliceBytes >= 200 * 1024 && sliceBytes - Math.max(...slice.map((p) => device.get(p)!)) < 200 * 1024, `${sliceBytes}`);
    before = after;
  }
  assert.ok(slices.length >= 3, `a 200 KiB budget takes several runs (${slices.length})`);
  assert.equal(records(r.repo).length, slices.length, 'one record per run');
  // all verified: the next slice is the oldest one, the first
  const next = await checkJson(r, ['--max-bytes', '1']);
  const oldest = readBetween(before, await scrubState(r));
  const expected = [...before].sort((x, y) => x[1].time - y[1].time || (x[0] < y[0] ? -1 : 1))[0][0];
  assert.deepEqual(oldest, [expected], 'the pack verified longest ago is read first');
  assert.equal(next.j.scrub.packs_never_verified, 0);
  const text = await r.run(['check']);
  assert.match(text.stdout, new RegExp(`scrub coverage: ${device.size} of ${device.size} packs \\(100 %, .* verified; oldest verification \\d{4}-\\d\\d-\\d\\d \\(today\\)`));
});

test('core: least recently verified first with an injected clock; coverage and the oldest verification', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const ids = [...device.keys()].sort();
  const repo = await open(r);
  // a, b, c verified on days 5, 1 and 3; the rest never
  const [a, b, c] = [ids[3], ids[7], ids[11]];
  await saveScrubRecord(repo, new Map([[a, { time: T0 + 5 * DAY, verdict: 'ok' as const }], [b, { time: T0 + DAY, verdict: 'ok' as const }]]), T0 + 5 * DAY);
  await saveScrubRecord(repo, new Map([[c, { time: T0 + 3 * DAY, verdict: 'ok' as const }]]), T0 + 3 * DAY);
  const never = ids.filter((p) => ![a, b, c].includes(p));
  const neverBytes = never.reduce((s, p) => s + device.get(p)!, 0);
  let clock = T0 + 10 * DAY;
  const now = () => clock;

  // a budget one byte past the never-verified packs: all of them, then the oldest verification (b)
  const before = await scrubState(r, clock);
  const r1 = await new Checker(await open(r), { readData: true, maxBytes: neverBytes + 1, now }).run();
  assert.equal(r1.problems.length, 0);
  assert.deepEqual(readBetween(before, await scrubState(r, clock)), [...never, b].sort());
  assert.equal(r1.scrub.stopped, 'budget');
  assert.equal(r1.scrub.packs, ids.length);
  assert.equal(r1.scrub.neverVerified, 0);
  assert.equal(r1.scrub.oldest, T0 + 3 * DAY, 'c is now the oldest verification');
  assert.equal(r1.scrub.totalBytes, [...device.values()].reduce((x, y) => x + y, 0));
  assert.equal(r1.scrub.bytes, r1.scrub.totalBytes);

  // next: c (day 3), then a (day 5), then the packs verified on day 10, by id
  clock = T0 + 11 * DAY;
  const mid = await scrubState(r, clock);
  const r2 = await new Checker(await open(r), { readData: true, maxBytes: device.get(c)! + device.get(a)!, now }).run();
  assert.deepEqual(readBetween(mid, await scrubState(r, clock)), [a, c].sort());
  assert.equal(r2.scrub.oldest, T0 + 10 * DAY);
  const state = await scrubState(r, clock);
  assert.equal(state.get(c)!.time, T0 + 11 * DAY, 'the verification time is the injected clock');
});

test('a tampered scrub record is ignored and reported; its packs are read first and damage in them is found', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const total = [...device.values()].reduce((a, b) => a + b, 0);
  // run 1 reads about half, run 2 exactly the rest
  let before = await scrubState(r);
  assert.equal((await r.run(['check', '--max-bytes', String(Math.floor(total / 2))])).code, 0);
  const s1 = readBetween(before, (before = await scrubState(r)));
  const rest = [...device.keys()].filter((p) => !s1.includes(p));
  const restBytes = rest.reduce((s, p) => s + device.get(p)!, 0);
  const run2 = await checkJson(r, ['--max-bytes', String(restBytes)]);
  assert.deepEqual(readBetween(before, await scrubState(r)), rest.sort());
  assert.equal(run2.j.scrub.packs_never_verified, 0);
  // damage the biggest pack of run 2 (a data pack) and flip a byte of run 2's record
  const victim = rest.sort((x, y) => device.get(y)! - device.get(x)!)[0];
  flipByte(packPath(r.repo, victim), 100);
  const record2 = run2.j.scrub.record as string;
  flipByte(join(r.repo, 'scrub', record2), 40);

  const plain = await checkJson(r, []);
  assert.equal(plain.j.scrub.packs_verified, s1.length, 'the packs of the tampered record count as never verified');
  assert.equal(plain.j.scrub.packs_never_verified, rest.length);
  assert.ok(plain.j.scrub.warnings.some((w: { file: string; message: string }) => w.file === `scrub/${record2}` && /ignored/.test(w.message)), JSON.stringify(plain.j.scrub.warnings));

  // a budget of run 2's size reads run 2's packs again (were the record trusted, run 1's packs would come first)
  const c = await r.run(['check', '--max-bytes', String(restBytes)]);
  assert.equal(c.code, 1, c.stderr);
  assert.ok(c.stderr.includes(`warning: scrub/${record2}:`), c.stderr);
  assert.ok(c.stderr.includes(`data/${victim.slice(0, 2)}/${victim}`), c.stderr);
  assert.match(c.stderr, /does not match its name/);
  assert.match(c.stderr, /snapshot [0-9a-f]{8}: \d+ damaged file\(s\):\n {2}\/.*\/photos\/img-\d\d\.jpg/);
  assert.match(c.stdout, /1 pack\(s\) were damaged at their last verification/);

  // the damaged pack stays first in line: a one-byte budget reads it, and only it
  const next = await checkJson(r, ['--max-bytes', '1']);
  assert.equal(next.code, 1);
  assert.equal(next.j.packs_read, 1);
  assert.ok(next.j.problems.every((p: { file: string }) => p.file === `data/${victim.slice(0, 2)}/${victim}`), JSON.stringify(next.j.problems));
  assert.ok(next.j.affected.length > 0 && next.j.affected.every((a: { path: string }) => /photos\/img-\d\d\.jpg$/.test(a.path)));
  assert.equal(next.j.scrub.packs_damaged, 1);
  const state = await scrubState(r);
  assert.equal(state.get(victim)!.verdict, 'damaged');
  assert.ok(state.get(victim)!.blobs!.length >= 1, 'the record names the damaged blobs');
});

test('a record claiming a verification in the future does not skip the pack', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const ids = [...device.keys()].sort();
  const repo = await open(r);
  const future = Date.now() + 30 * DAY;
  // an authentic record (written with the key) from a host whose clock is a month ahead
  await saveScrubRecord(repo, new Map(ids.map((p) => [p, { time: future, verdict: 'ok' as const }])), future);
  const plain = await checkJson(r, []);
  assert.equal(plain.j.scrub.packs_verified, 0);
  assert.ok(plain.j.scrub.warnings.some((w: { message: string }) => /future/.test(w.message)));
  const c = await checkJson(r, ['--max-bytes', '1']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.j.packs_read, 1);
  assert.equal(c.j.scrub.packs_verified, 1);
  const state = await scrubState(r);
  assert.ok(state.get(ids[0])!.time <= Date.now(), 'the first pack by id (all never verified) was read and recorded now');
});

test('consolidation: the 17th record merges all into one, dropping packs that no longer exist', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const repo = await open(r);
  // records of two packs that are gone (as after a prune)
  const gone = ['ab'.repeat(32), 'cd'.repeat(32)];
  await saveScrubRecord(repo, new Map(gone.map((p) => [p, { time: T0, verdict: 'ok' as const }])), T0);
  let clock = T0 + DAY;
  for (let i = 0; i < 15; i++) {
    clock += 60_000;
    const res = await new Checker(await open(r), { readData: true, maxBytes: 1, now: () => clock }).run();
    assert.equal(res.packsRead, 1);
    assert.equal(res.scrub.consolidated, undefined);
  }
  assert.equal(records(r.repo).length, 16);
  const before = await scrubState(r, clock);
  assert.equal(before.size, 15 + gone.length);
  clock += 60_000;
  const res = await new Checker(await open(r), { readData: true, maxBytes: 1, now: () => clock }).run();
  assert.deepEqual(res.scrub.consolidated && { removed: res.scrub.consolidated.removed, dropped: res.scrub.consolidated.dropped }, { removed: 17, dropped: 2 });
  const left = records(r.repo);
  assert.deepEqual(left, [res.scrub.consolidated!.record]);
  const after = await scrubState(r, clock);
  assert.equal(after.size, 16);
  for (const p of gone) assert.ok(!after.has(p), 'records of packs that no longer exist are dropped');
  for (const [p, v] of before) if (!gone.includes(p)) assert.deepEqual(after.get(p), v, 'the merged record keeps every verification');
  const newest = [...after].find(([p]) => !before.has(p))!;
  assert.equal(newest[1].time, clock);
  assert.ok(device.has(newest[0]));
  assert.equal(res.scrub.packs, 16);
  assert.equal(res.scrub.neverVerified, device.size - 16);
  // a crash between writing the merged record and deleting the old ones leaves duplicates: same state
  await saveScrubRecord(repo, new Map([...before].filter(([p]) => !gone.includes(p))), clock);
  assert.equal(records(r.repo).length, 2);
  assert.deepEqual(await scrubState(r, clock), after);
});

test('--max-duration stops early; Ctrl-C (abort) still records what was verified', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  const device = packsOnDevice(r.repo);
  const c = await checkJson(r, ['--max-duration', '1ms']);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(c.j.packs_read >= 1 && c.j.packs_read < device.size, `read ${c.j.packs_read} of ${device.size}`);
  assert.equal(c.j.scrub.stopped, 'budget');
  assert.equal(c.j.scrub.packs_verified, c.j.packs_read, 'what was read is recorded');
  assert.equal((await r.run(['check', '--max-duration', '10x'])).code, 2);

  // abort once two packs were verified (the clock is read when a pack's verification finishes)
  const ac = new AbortController();
  let calls = 0;
  const before = await scrubState(r);
  const res = await new Checker(await open(r), {
    readData: true,
    signal: ac.signal,
    now: () => {
      if (++calls === 4) ac.abort();
      return Date.now();
    },
  }).run();
  assert.equal(res.interrupted, true);
  assert.equal(res.scrub.stopped, 'interrupted');
  assert.ok(res.packsRead >= 2 && res.packsRead < device.size, `read ${res.packsRead}`);
  assert.equal(readBetween(before, await scrubState(r)).length, res.packsRead, 'every pack read before the abort is recorded');
});

test('a read-only scrub directory: the check passes with a warning', async (t) => {
  const { r } = await smallPackRepo();
  t.after(() => r.cleanup());
  mkdirSync(join(r.repo, 'scrub'));
  chmodSync(join(r.repo, 'scrub'), 0o555);
  // root ignores permissions unless it drops CAP_DAC_OVERRIDE
  const p = spawnSync('setpriv', ['--bounding-set', '-dac_override,-dac_read_search', process.execPath, cliPath(), 'check', '--read-data'], {
    env: { ...process.env, ...r.env },
    encoding: 'utf8',
  });
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /warning: scrub\/: cannot write the scrub record/);
  assert.match(p.stdout, /no errors were found/);
  assert.equal(records(r.repo).length, 0);
});
