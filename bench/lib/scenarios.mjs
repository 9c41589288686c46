// The datasets and the steps run on them.  One live tree (WORK/live/data) is backed up by every tool;
// between steps its content changes the way shared/bench/run-peers.sh changes it, so the numbers stay
// comparable with shared/bench/BASELINE.md.
import fs from 'node:fs';
import path from 'node:path';
import { sh, q, log, duBytes } from './sys.mjs';

const MIB = 1024 * 1024;

export function datasetsPresent(data) {
  return ['kernel-6.1/Makefile', 'kernel-6.12/Makefile', 'mixed-home/Documents/kernel-fs-old/Makefile']
    .every((f) => fs.existsSync(path.join(data, f)));
}

/** Build the datasets with bench/make-datasets.sh (several minutes: two downloads of ~150 MB, unpacking). */
export function buildDatasets(data, repoRoot) {
  log(`datasets missing in ${data}: building them with bench/make-datasets.sh (downloads ~300 MB)`);
  sh(`bash ${q(path.join(repoRoot, 'bench', 'make-datasets.sh'))} ${q(data)} >&2`);
}

const copyTree = (from, to) => sh(`rm -rf ${q(to)} && mkdir -p ${q(path.dirname(to))} && cp -a ${q(from)} ${q(to)}`);
const copyParts = (base, parts, to) =>
  sh(`rm -rf ${q(to)} && mkdir -p ${q(to)} && cp -a ${parts.map((p) => q(path.join(base, p))).join(' ')} ${q(to)}/`);

/** The small mixed home of --quick: the same shape as mixed-home, ~80 MB. */
function quickHome(data, to) {
  const h = path.join(data, 'mixed-home');
  const j = (...p) => q(path.join(to, ...p));
  sh([
    `rm -rf ${q(to)} && mkdir -p ${j('src', 'linux-6.1')} ${j('Videos')} ${j('Downloads')} ${j('Documents')}`,
    `cp -a ${q(`${h}/src/linux-6.1/kernel`)} ${q(`${h}/src/linux-6.1/mm`)} ${q(`${h}/src/linux-6.1/lib`)} ${j('src', 'linux-6.1')}/`,
    `head -c ${24 * MIB} ${q(`${h}/Videos/clip-1.bin`)} > ${j('Videos', 'clip-1.bin')}`,
    `head -c ${24 * MIB} ${q(`${h}/Videos/clip-2.bin`)} > ${j('Videos', 'clip-2.bin')}`,
    `cp -a ${q(`${h}/Videos/project-net/ethernet/intel`)} ${j('Videos', 'project-net')}`,
    `head -c ${16 * MIB} ${q(`${h}/Downloads/disk-image.bin`)} > ${j('Downloads', 'disk-image.bin')}`,
    `touch -d @1700000000 ${j('Videos', 'clip-1.bin')} ${j('Videos', 'clip-2.bin')} ${j('Downloads', 'disk-image.bin')}`,
    `cp -a ${j('Videos', 'clip-1.bin')} ${j('Downloads', 'clip-1 (copy).bin')}`,
    `cp -a ${j('src', 'linux-6.1', 'lib')} ${j('Documents', 'kernel-lib-old')}`,
    `find ${q(to)} -type d -exec touch -h -d @1700000000 {} +`,
  ].join(' && '));
}

function moveVideos(live) {
  const bytes = duBytes(path.join(live, 'Videos'));
  const files = Number(sh(`find ${q(path.join(live, 'Videos'))} -type f | wc -l`).trim());
  sh(`mkdir -p ${q(path.join(live, 'Archive', '2023'))} && mv ${q(path.join(live, 'Videos'))} ${q(path.join(live, 'Archive', '2023', 'Videos'))}`);
  return { movedBytes: bytes, movedFiles: files };
}

/** New mtime (content unchanged) on every 100th file in C sort order, as run-peers.sh does. */
function touchOnePercent(live) {
  const list = `find . -type f -print0 | LC_ALL=C sort -z | awk 'BEGIN{RS=ORS="\\0"} NR % 100 == 0'`;
  const out = sh(`cd ${q(live)} && ${list} | du -cb --files0-from=- | tail -n 1 && ${list} | tr -cd '\\0' | wc -c`).trim().split('\n');
  sh(`cd ${q(live)} && ${list} | xargs -0 -r touch -m -d @1700003600`);
  return { touchedBytes: Number(out[0].split('\t')[0]), touchedFiles: Number(out[1]) };
}

/**
 * Scenarios: prepare(live) builds the first tree; each step is a backup / restore / verify, with an
 * optional change of the live tree before it (returning facts for the report).
 */
export function scenarios(data, quick) {
  const k61 = path.join(data, 'kernel-6.1');
  const k612 = path.join(data, 'kernel-6.12');
  const parts = ['fs', 'net'];
  return {
    d1: {
      id: 'd1',
      title: quick ? 'd1 quick: Linux 6.1 fs/ + net/ (~76 MB), then 6.12 fs/ + net/'
        : 'd1: Linux 6.1 source (1.32 GB, 78.6k files), then replaced by Linux 6.12 (1.51 GB)',
      prepare: (live) => (quick ? copyParts(k61, parts, live) : copyTree(k61, live)),
      steps: [
        { name: 'initial', kind: 'backup', label: 'first backup' },
        { name: 'nochange', kind: 'backup', label: 'no-change rerun' },
        {
          name: 'incr-6.12', kind: 'backup', label: 'incremental 6.1→6.12',
          // rm -rf + cp -a: every file gets a new inode and mtime, as after unpacking a new tarball
          change: (live) => { quick ? copyParts(k612, parts, live) : copyTree(k612, live); return {}; },
        },
        { name: 'restore', kind: 'restore', label: 'full restore' },
        { name: 'check', kind: 'verify', label: 'check --read-data' },
        // the 6.1 snapshots are forgotten: about half of the data becomes unreferenced
        { name: 'prune', kind: 'prune', label: 'forget all but the latest, prune' },
      ],
    },
    d3: {
      id: 'd3',
      title: quick ? 'd3 quick: a small mixed home (~133 MB: kernel text, incompressible files, duplicates)'
        : 'd3: mixed home directory (1.28 GB: kernel text, 600 MB incompressible, duplicates)',
      prepare: (live) => (quick ? quickHome(data, live) : copyTree(path.join(data, 'mixed-home'), live)),
      steps: [
        { name: 'initial', kind: 'backup', label: 'first backup' },
        { name: 'move-videos', kind: 'backup', label: 'Videos/ moved, backup', change: moveVideos },
        { name: 'touch-1pct', kind: 'backup', label: '1% of files touched, backup', change: touchOnePercent },
        { name: 'restore', kind: 'restore', label: 'full restore' },
      ],
    },
  };
}
