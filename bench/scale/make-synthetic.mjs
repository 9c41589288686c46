#!/usr/bin/env node
/**
 * Builds a Flashback repository whose INDEX describes N synthetic data blobs (default 2,000,000 blobs of
 * 1 MiB = 2 TB) in synthetic 16 MiB packs, plus a few real snapshots of a small real tree.
 *
 *   node bench/scale/make-synthetic.mjs [--dir /tmp/flashback-scale] [--name repo-2M]
 *        [--blobs 2000000] [--blobs-per-pack 16] [--index-blobs 100000 | --index-packs 8]
 *        [--pack-files sparse|none] [--tree /work/datasets/kernel-6.1/fs] [--live tree] [--backups 2]
 *        [--extra-snapshots 0]
 *
 * What is real: the repository (init through the CLI), its keys, config, every index file (encodeIndex +
 * sealFile with the repository's encKey, named by SHA-256 as the backup writes them), and the snapshots,
 * trees and packs of the small tree (backed up through the CLI after the synthetic index exists).
 *
 * What is NOT real: the synthetic packs. 2 TB does not fit, so their bytes are never written. With
 * --pack-files sparse (the default) each one is a sparse file of the right size and name (no disk space,
 * no header), so that listing data/ costs what it costs on a real device; with --pack-files none they are
 * absent. The repository is therefore valid ONLY for index-related measurements (open, loadIndex, dedup
 * lookups, backups of the small tree, listing): `flashback check` reports every synthetic pack as missing
 * (none), `check --read-data` as damaged (sparse) — that is expected — and only the small tree restores.
 *
 * --index-blobs B writes about B blobs per index file (whole packs; 100k → 20 files for 2M blobs).
 * --index-packs P writes P packs per index file, the way a backup checkpoints (P = 8 → 15,625 files).
 * --extra-snapshots K adds K snapshot files copying the last real one, dated before it (so it stays the
 * parent), to measure what the snapshot count costs.
 * --tree is copied once to <dir>/<live> (default <dir>/tree), which is what gets backed up (and touched).
 * A manifest <dir>/<name>.json records the parameters and the times of each step.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// FLASHBACK_CODE: a built checkout to measure (default this one; a private copy is immune to rebuilds)
const CODE = resolve(process.env.FLASHBACK_CODE ?? ROOT);
const dist = (p) => import(join(CODE, 'dist/src/core', p));
const { LocalBackend } = await dist('backend/local.js');
const { Repository } = await dist('repository/repository.js');
const { encodeIndex, sealFile, INDEX_AAD, ENTRY_BYTES } = await dist('pack/format.js');
const { sha256, SEAL_OVERHEAD } = await dist('crypto/crypto.js');

const PASSWORD = 'flashback scale benchmark';
const ENV = { ...process.env, FLASHBACK_PASSWORD: PASSWORD, FLASHBACK_TEST_KDF_N: '1024' };
const CLI = join(CODE, 'bin/flashback');

const { values: o } = parseArgs({
  options: {
    dir: { type: 'string', default: process.env.FLASHBACK_SCALE_DIR ?? '/tmp/flashback-scale' },
    name: { type: 'string' },
    blobs: { type: 'string', default: '2000000' },
    'blobs-per-pack': { type: 'string', default: '16' },
    'blob-size': { type: 'string', default: String(1 << 20) },
    'index-blobs': { type: 'string' },
    'index-packs': { type: 'string' },
    'pack-files': { type: 'string', default: 'sparse' },
    tree: { type: 'string', default: '/work/datasets/kernel-6.1/fs' },
    live: { type: 'string', default: 'tree' },
    backups: { type: 'string', default: '2' },
    'extra-snapshots': { type: 'string', default: '0' },
  },
});

const N = Number(o.blobs);
const perPack = Number(o['blobs-per-pack']);
const blobSize = Number(o['blob-size']);
const packsPerIndex = o['index-packs'] ? Number(o['index-packs']) : Math.max(1, Math.round(Number(o['index-blobs'] ?? 100000) / perPack));
if (!['sparse', 'none'].includes(o['pack-files'])) throw new Error('--pack-files is sparse or none');
const name = o.name ?? `repo-${N}-${packsPerIndex}p`;
const work = resolve(o.dir);
const repoDir = join(work, name);
const treeDir = join(work, o.live); // the live copy of --tree; measure.mjs touches files in it
if (existsSync(repoDir)) throw new Error(`${repoDir} exists; remove it first`);
mkdirSync(work, { recursive: true });

const manifest = {
  name, repo: repoDir, tree: treeDir, treeSource: resolve(o.tree), blobs: N, blobsPerPack: perPack, blobSize,
  packsPerIndex, packFiles: o['pack-files'], created: new Date().toISOString(), steps: {},
};
const step = async (label, fn) => {
  const t = process.hrtime.bigint();
  const r = await fn();
  manifest.steps[label] = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`${label}: ${manifest.steps[label].toFixed(1)} s`);
  return r;
};
const cli = (...args) => {
  const r = spawnSync(CLI, ['-r', repoDir, ...args], { env: ENV, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`flashback ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};

if (!existsSync(treeDir)) await step('copy tree', () => execFileSync('cp', ['-a', resolve(o.tree), treeDir]));
await step('init', () => cli('init'));
const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD);

// ------------------------------------------------------------------ synthetic index (and sparse packs)
const packCount = Math.ceil(N / perPack);
let indexFiles = 0;
let indexBytes = 0;
await step('write index', async () => {
  let blobs = 0;
  let batch = [];
  const flush = async () => {
    if (!batch.length) return;
    const bytes = sealFile(repo.keys.encKey, INDEX_AAD, encodeIndex(batch, []), repo.config.compression.level);
    await repo.backend.save('index', sha256(bytes).toString('hex'), bytes);
    indexFiles++;
    indexBytes += bytes.length;
    batch = [];
  };
  for (let p = 0; p < packCount; p++) {
    const n = Math.min(perPack, N - blobs);
    const ids = randomBytes(32 * n); // blob ids are keyed HMACs: uniformly random, like these
    const entries = [];
    let offset = 0;
    for (let i = 0; i < n; i++) {
      // a realistic mix: two thirds compressible (zstd, ~55 %), one third stored raw
      const compression = (blobs + i) % 3 === 2 ? 0 : 1;
      const length = (compression ? Math.round(blobSize * 0.55) : blobSize) + SEAL_OVERHEAD;
      entries.push({ type: 0, compression, id: ids.subarray(32 * i, 32 * i + 32), offset, length, rawLength: blobSize });
      offset += length;
    }
    const packId = randomBytes(32).toString('hex');
    if (o['pack-files'] === 'sparse') {
      const fd = openSync(repo.backend.path('data', packId), 'wx');
      ftruncateSync(fd, offset + SEAL_OVERHEAD + 5 + ENTRY_BYTES * n + 4); // blobs + sealed header + u32
      closeSync(fd);
    }
    batch.push({ packId, entries });
    blobs += n;
    if (batch.length >= packsPerIndex) await flush();
  }
  await flush();
});
Object.assign(manifest, { packs: packCount, indexFiles, indexBytes });
console.log(`${N} blobs in ${packCount} packs, ${indexFiles} index files (${(indexBytes / 1e6).toFixed(1)} MB)`);

// ------------------------------------------------------------------ real snapshots of the small tree
const backups = Number(o.backups);
for (let i = 0; i < backups; i++) {
  await step(i === 0 ? 'backup initial' : `backup ${i + 1} (no change)`, () => cli('--json', '-q', 'backup', treeDir));
}

// ------------------------------------------------------------------ extra snapshot files (snapshot count)
const extra = Number(o['extra-snapshots']);
if (extra > 0) {
  await step(`write ${extra} extra snapshots`, async () => {
    const last = (await repo.snapshots.list()).at(-1);
    if (!last) throw new Error('--extra-snapshots needs --backups >= 1');
    const t0 = Date.parse(last.snapshot.time);
    for (let i = 1; i <= extra; i++) {
      await repo.snapshots.save({ ...last.snapshot, time: new Date(t0 - i * 3_600_000).toISOString() });
    }
  });
}
manifest.snapshots = (await repo.snapshots.list()).length;

writeFileSync(join(work, `${name}.json`), JSON.stringify(manifest, null, 2) + '\n');
console.log(`wrote ${join(work, `${name}.json`)}`);
