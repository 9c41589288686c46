#!/usr/bin/env node
/**
 * Measures how Flashback scales against the repositories made by make-synthetic.mjs (manifests
 * <dir>/*.json):
 *   (a) open + loadIndex in a fresh process (open-index.mjs): time, index memoryBytes(), RSS/heap after
 *       loading and after GC, peak RSS (GNU time %M), bytes per blob; once more with --extras for the
 *       snapshot listing, the orphan-pack scan of data/, share() and dedup lookups;
 *   (b) CLI backups of the small tree: after `touch -m` of 1% of its files (content unchanged: re-read,
 *       every chunk found in the index), and with nothing changed: wall, CPU, peak RSS (GNU time);
 *   (c) the same for the repository holding only the small tree (make-synthetic --blobs 0), if present;
 *   (d) once, `flashback check` (structure only; skipped with --no-check and for --pack-files none, where
 *       every synthetic pack is missing): wall and peak RSS.
 *
 *   node bench/scale/measure.mjs [--dir /tmp/flashback-scale] [--repos a,b] [--runs 3] [--no-backup] [--no-check]
 *
 * Before each touched backup an untimed backup brings the parent up to date, so exactly 1% of the files
 * differ from the parent in every run. Page cache warm. Writes bench/results/scale-<timestamp>.json.
 * FLASHBACK_CODE=DIR measures the build in DIR (see snapshot-code.sh) instead of this checkout's dist/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// FLASHBACK_CODE: a built checkout to measure (default this one; a private copy is immune to rebuilds)
const CODE = resolve(process.env.FLASHBACK_CODE ?? ROOT);
const CLI = join(CODE, 'bin/flashback');
const ENV = { ...process.env, FLASHBACK_PASSWORD: 'flashback scale benchmark', FLASHBACK_TEST_KDF_N: '1024' };

const { values: o } = parseArgs({
  options: {
    dir: { type: 'string', default: process.env.FLASHBACK_SCALE_DIR ?? '/tmp/flashback-scale' },
    repos: { type: 'string' },
    runs: { type: 'string', default: '3' },
    'no-backup': { type: 'boolean', default: false },
    'no-check': { type: 'boolean', default: false },
  },
});
const work = resolve(o.dir);
const runs = Number(o.runs);
const manifests = readdirSync(work)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(work, f), 'utf8')))
  .filter((m) => !o.repos || o.repos.split(',').includes(m.name))
  .sort((a, b) => a.blobs - b.blobs || a.packsPerIndex - b.packsPerIndex || a.name.localeCompare(b.name));
if (!manifests.length) throw new Error(`no repository manifests in ${work}; run make-synthetic.mjs first`);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 }).trim();

/** runs a command under GNU time; returns its stdout and wall s, user s, sys s, peak RSS MiB */
function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  const m = /TIME (\S+) (\S+) (\S+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, wall: Number(m[1]), user: Number(m[2]), sys: Number(m[3]), peakRssMiB: Number(m[4]) / 1024 };
}

function measureOpen(m) {
  const open = [];
  const helper = join(ROOT, 'bench/scale/open-index.mjs');
  for (let i = 0; i < runs; i++) {
    const r = timed(process.execPath, ['--expose-gc', helper, m.repo]);
    open.push({ ...JSON.parse(r.stdout), wall: r.wall, peakRssMiB: r.peakRssMiB });
  }
  const extras = JSON.parse(timed(process.execPath, ['--expose-gc', helper, m.repo, '--extras']).stdout);
  const last = open.at(-1);
  return {
    runs: open,
    openMs: median(open.map((r) => r.openMs)),
    loadIndexMs: median(open.map((r) => r.loadIndexMs)),
    peakRssMiB: median(open.map((r) => r.peakRssMiB)),
    blobs: last.blobs, packs: last.packs, indexFiles: last.indexFiles, indexMemoryBytes: last.indexMemoryBytes,
    bytesPerBlob: last.bytesPerBlob,
    rssAfterGcMiB: last.afterGc.rss / 2 ** 20, heapAfterGcMiB: last.afterGc.heapUsed / 2 ** 20,
    extras: {
      snapshots: extras.snapshots, snapshotsListMs: extras.snapshotsListMs, orphanScanMs: extras.orphanScanMs,
      shareMs: extras.shareMs, lookupHitNs: extras.lookupHit.nsPerLookup, lookupMissNs: extras.lookupMiss.nsPerLookup,
    },
  };
}

// the small tree's files, sorted, and a rotating 1% of them
const files = (tree) => sh('find', [tree, '-type', 'f']).split('\n').sort();
let rotation = 0;
function touchOnePercent(tree) {
  const all = files(tree);
  const off = rotation++ % 100;
  const now = new Date();
  let n = 0;
  all.forEach((f, i) => { if (i % 100 === off) { utimesSync(f, now, now); n++; } });
  return { touched: n, of: all.length };
}

function backup(m) {
  const r = timed(CLI, ['-r', m.repo, '--json', 'backup', m.tree]);
  const summary = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((x) => x.message_type === 'summary');
  const { wall, user, sys, peakRssMiB } = r;
  return { wall, user, sys, peakRssMiB, files_changed: summary.files_changed, files_unmodified: summary.files_unmodified, data_added: summary.data_added };
}

function measureBackups(m) {
  const touched = [];
  const nochange = [];
  let t;
  for (let i = 0; i < runs; i++) {
    backup(m); // untimed: the parent now matches the tree
    t = touchOnePercent(m.tree);
    touched.push(backup(m));
    nochange.push(backup(m));
  }
  const sum = (xs) => ({
    wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.user + x.sys)), peakRssMiB: median(xs.map((x) => x.peakRssMiB)),
    files_changed: xs[0].files_changed, files_unmodified: xs[0].files_unmodified, runs: xs,
  });
  return { touched: t, touch1pct: sum(touched), nochange: sum(nochange) };
}

const result = {
  date: new Date().toISOString(), code: CODE,
  git: existsSync(join(CODE, '.flashback-commit')) ? readFileSync(join(CODE, '.flashback-commit'), 'utf8').trim() : sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
  srcDirty: CODE === ROOT && sh('git', ['-C', ROOT, 'status', '--porcelain', 'src']).length > 0, node: process.version,
  cpus: cpus().length, memGiB: totalmem() / 2 ** 30, runs,
  command: `node bench/scale/measure.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  repos: [],
};
for (const m of manifests) {
  console.error(`measuring ${m.name} …`);
  const r = { name: m.name, synthetic: { blobs: m.blobs, packs: m.packs, indexFiles: m.indexFiles, packsPerIndex: m.packsPerIndex, packFiles: m.packFiles }, make: m.steps };
  r.loadavgBefore = loadavg()[0];
  r.open = measureOpen(m);
  if (!o['no-backup']) r.backup = measureBackups(m);
  if (!o['no-check'] && m.packFiles !== 'none') {
    const c = timed(CLI, ['-r', m.repo, '-q', 'check']);
    r.check = { wall: c.wall, cpu: c.user + c.sys, peakRssMiB: c.peakRssMiB };
  }
  r.loadavgAfter = loadavg()[0];
  result.repos.push(r);
}

const f1 = (x) => (x === undefined ? '' : x.toFixed(1));
const f2 = (x) => (x === undefined ? '' : x.toFixed(2));
const rows = [
  ['repository', 'blobs', 'packs', 'index files', 'snapshots', 'open+load s', 'index MiB', 'B/blob index', 'B/blob RSS', 'RSS after load MiB',
    'peak RSS load MiB', 'snap list ms', 'data/ scan ms', 'lookup ns', 'touch-1% s', 'touch-1% RSS MiB', 'no-change s', 'no-change RSS MiB', 'check s', 'check RSS MiB'],
  ...result.repos.map((r) => [
    r.name, r.open.blobs, r.open.packs, r.open.indexFiles, r.open.extras.snapshots, f2((r.open.openMs + r.open.loadIndexMs) / 1000),
    f1(r.open.indexMemoryBytes / 2 ** 20), f1(r.open.bytesPerBlob.memoryBytes), f1(r.open.bytesPerBlob.rssAfterGc), f1(r.open.rssAfterGcMiB),
    f1(r.open.peakRssMiB), f1(r.open.extras.snapshotsListMs), f1(r.open.extras.orphanScanMs), f1(r.open.extras.lookupMissNs),
    f2(r.backup?.touch1pct.wall), f1(r.backup?.touch1pct.peakRssMiB), f2(r.backup?.nochange.wall), f1(r.backup?.nochange.peakRssMiB),
    f2(r.check?.wall), f1(r.check?.peakRssMiB),
  ]),
];
const table = rows.map((row) => `| ${row.join(' | ')} |`);
table.splice(1, 0, `|${rows[0].map(() => '---').join('|')}|`);
result.table = table.join('\n');
console.log(result.table);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const out = join(ROOT, `bench/results/scale-${result.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${out}`);
