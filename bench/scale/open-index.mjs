#!/usr/bin/env -S node --expose-gc
/**
 * One measurement of opening a repository and loading its index, in a fresh process (run by measure.mjs as
 * `/usr/bin/time -f %M node --expose-gc open-index.mjs REPO [--extras]` so that peak RSS is this step only).
 * Prints one JSON line: times (ms), index size, memoryBytes(), process memory after loading and after a
 * full GC, relative to the baseline taken after the imports. With --extras it then also times what a
 * backup does next at this size: listing snapshots, listing data/ for orphan packs, share(), and dedup
 * lookups (hits and misses, in random order) against the loaded index.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// FLASHBACK_CODE: a built checkout to measure (default this one; a private copy is immune to rebuilds)
const CODE = resolve(process.env.FLASHBACK_CODE ?? ROOT);
const dist = (p) => import(join(CODE, 'dist/src/core', p));
const { LocalBackend } = await dist('backend/local.js');
const { Repository } = await dist('repository/repository.js');
const { findOrphanPacks } = await dist('repository/blob-writer.js');

const repoDir = process.argv[2];
const extras = process.argv.includes('--extras');
const gc = globalThis.gc ?? (() => { throw new Error('run with --expose-gc'); });
const mem = () => { const m = process.memoryUsage(); return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }; };
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

gc(); gc();
const base = mem();
let t = process.hrtime.bigint();
const repo = await Repository.open(new LocalBackend(repoDir), process.env.FLASHBACK_PASSWORD);
const openMs = ms(t);
t = process.hrtime.bigint();
// sample RSS while loading (the loader awaits between index files, so the timer gets to run)
let peakSampled = process.memoryUsage().rss;
const timer = setInterval(() => { peakSampled = Math.max(peakSampled, process.memoryUsage().rss); }, 5);
await repo.loadIndex();
clearInterval(timer);
const loadIndexMs = ms(t);
const loaded = mem();
gc(); gc();
const afterGc = mem();
const blobs = repo.index.size;
const out = {
  repo: repoDir, openMs, loadIndexMs, blobs, packs: repo.index.packCount, indexFiles: repo.indexFiles.size,
  indexMemoryBytes: repo.index.memoryBytes(), base, loaded, afterGc, peakRssSampled: peakSampled,
};
out.bytesPerBlob = {
  memoryBytes: out.indexMemoryBytes / blobs,
  // what the process really keeps for the index, pack-id strings and Maps included
  rssAfterGc: (afterGc.rss - base.rss) / blobs,
  heapAfterGc: (afterGc.heapUsed - base.heapUsed) / blobs,
  arrayBuffersAfterGc: (afterGc.arrayBuffers - base.arrayBuffers) / blobs,
};

if (extras) {
  t = process.hrtime.bigint();
  const snaps = await repo.snapshots.list();
  out.snapshots = snaps.length;
  out.snapshotsListMs = ms(t);
  t = process.hrtime.bigint();
  const orphans = await findOrphanPacks(repo);
  out.orphanScanMs = ms(t);
  out.orphans = orphans.length;
  t = process.hrtime.bigint();
  repo.index.share();
  out.shareMs = ms(t);
  // dedup lookups: ids already stored (hits, a spread-out sample) and new ids (misses), in random order
  const K = 1_000_000;
  const hits = [];
  const every = Math.max(1, Math.floor(blobs / 100_000));
  let i = 0;
  for (const { id } of repo.index.entries()) if (i++ % every === 0) hits.push(id);
  for (let k = hits.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    [hits[k], hits[j]] = [hits[j], hits[k]];
  }
  const misses = Array.from({ length: 100_000 }, () => randomBytes(32));
  const time = (ids) => {
    let found = 0;
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < K; k++) if (repo.index.has(ids[k % ids.length])) found++;
    return { nsPerLookup: Number(process.hrtime.bigint() - t0) / K, found };
  };
  time(misses); // warm up
  out.lookupHit = time(hits);
  out.lookupMiss = time(misses);
}
process.stdout.write(JSON.stringify(out) + '\n');
