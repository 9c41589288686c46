// Command-line options of bench/run.mjs.
import path from 'node:path';

export const ALL_TOOLS = ['flashback', 'restic', 'borg', 'borg-lz4', 'rsync'];
export const ALL_DATASETS = ['d1', 'd3'];

export const HELP = `usage: node bench/run.mjs [options]      (npm run bench / npm run bench:quick)

Flashback against restic, Borg and rsync on the same data, in the same run, tools alternating.

  --quick            small trees (parts of the datasets), 1 run, flashback + restic: about a minute
  --runs N           runs of every step; stateful steps use N repositories in lock-step [3; quick: 1]
  --tools LIST       comma-separated, from ${ALL_TOOLS.join(',')}
                     [all; quick: flashback,restic]  (borg = --compression zstd,3; borg-lz4 = lz4)
  --datasets LIST    d1 (Linux 6.1 -> 6.12), d3 (mixed home directory)  [d1,d3]
  --steps LIST       time only these steps (others that later steps need still run, untimed):
                     d1: initial,nochange,incr-6.12,restore,check,prune   d3: initial,move-videos,touch-1pct,restore
  --data DIR         datasets (built with bench/make-datasets.sh if missing)
                     [$FLASHBACK_BENCH_DATA, else bench/data]
  --work DIR         scratch space for live trees, repositories, restores (~25 GB for 3 runs) [/work/bench-work]
  --restore-dir DIR  where restores go [/dev/shm/flashback-bench-restore when /dev/shm is a tmpfs with room
                     for two restored trees, else WORK/restore]: file creation on a disk file system
                     can depend on its past (see README, "Benchmarks"), on tmpfs it does not
  --results DIR      where <timestamp>.json / .md go [bench/results]
  --quiet-wait S     before each step wait up to S seconds for the machine to be idle (<15% busy) [0]
  --no-install       never apt-get install missing tools (they are skipped)
  --keep             keep the work directory's repositories at the end
  -h, --help
`;

function list(v, allowed, what) {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) {
    if (allowed && !allowed.includes(i)) throw new Error(`unknown ${what} "${i}" (known: ${allowed.join(', ')})`);
  }
  return items;
}

export function parseOptions(argv, repoRoot) {
  const o = {
    quick: false,
    runs: undefined,
    tools: undefined,
    datasets: ALL_DATASETS,
    steps: undefined,
    data: process.env.FLASHBACK_BENCH_DATA || path.join(repoRoot, 'bench', 'data'),
    work: '/work/bench-work',
    results: path.join(repoRoot, 'bench', 'results'),
    restoreDir: undefined,
    quietWait: 0,
    install: true,
    keep: false,
    help: false,
  };
  const args = [...argv];
  const value = (name) => {
    if (!args.length) throw new Error(`${name} needs a value`);
    return args.shift();
  };
  while (args.length) {
    let a = args.shift();
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      args.unshift(a.slice(eq + 1));
      a = a.slice(0, eq);
    }
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--runs': o.runs = Number(value(a)); break;
      case '--tools': o.tools = list(value(a), ALL_TOOLS, 'tool'); break;
      case '--datasets': o.datasets = list(value(a), ALL_DATASETS, 'dataset'); break;
      case '--steps': o.steps = list(value(a), null, 'step'); break;
      case '--data': o.data = path.resolve(value(a)); break;
      case '--work': o.work = path.resolve(value(a)); break;
      case '--results': o.results = path.resolve(value(a)); break;
      case '--restore-dir': o.restoreDir = path.resolve(value(a)); break;
      case '--quiet-wait': o.quietWait = Number(value(a)); break;
      case '--no-install': o.install = false; break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.runs === undefined) o.runs = o.quick ? 1 : 3;
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
  if (!(o.quietWait >= 0)) throw new Error('--quiet-wait must be a number of seconds');
  if (!o.tools) o.tools = o.quick ? ['flashback', 'restic'] : [...ALL_TOOLS];
  if (!o.tools.includes('flashback')) o.tools.unshift('flashback');
  o.data = path.resolve(o.data);
  return o;
}
