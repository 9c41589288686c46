#!/usr/bin/env node
// Flashback's benchmark: Flashback, restic, Borg and rsync side by side on the same data in the same run.
// `node bench/run.mjs --help`; what it measures and why: README.md, section "Benchmarks".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, HELP } from './lib/options.mjs';
import { log, sh, q, duBytes, freeBytes, warm, timed, lockWork, machineInfo, ensureProgram, waitQuiet } from './lib/sys.mjs';
import { makeTools } from './lib/tools.mjs';
import { scenarios, datasetsPresent, buildDatasets } from './lib/scenarios.mjs';
import { summarize, targets, renderTables, writeResults, NOISE_NOTE } from './lib/report.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = Date.now();

let o;
try {
  o = parseOptions(process.argv.slice(2), repoRoot);
} catch (e) {
  process.stderr.write(`bench: ${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
process.on('SIGINT', () => process.exit(130));
process.on('uncaughtException', (e) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(143));

// ------------------------------------------------------------------ prerequisites
const fatal = (msg) => {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
};
const scen = scenarios(o.data, o.quick);
const known = new Set(Object.values(scen).flatMap((d) => d.steps.map((st) => st.name)));
for (const st of o.steps ?? []) if (!known.has(st)) fatal(`unknown step "${st}" (known: ${[...known].join(', ')})`);
const timeMissing = ensureProgram('/usr/bin/time', 'time', o.install);
if (timeMissing) fatal(`GNU time is needed: ${timeMissing}`);
if (!fs.existsSync(path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) {
  log('dist/ is missing: npm run build');
  sh('npm run build >&2', { cwd: repoRoot });
}
const allTools = makeTools(repoRoot);
const skipped = {};
const checked = new Map();
const tools = o.tools.filter((name) => {
  const t = allTools[name];
  if (name === 'flashback') return true;
  if (!checked.has(t.program)) checked.set(t.program, ensureProgram(t.program, t.pkg, o.install));
  const why = checked.get(t.program);
  if (why) {
    skipped[name] = why;
    log(`skipping ${name}: ${why}`);
  }
  return !why;
}).map((n) => allTools[n]);

if (!datasetsPresent(o.data)) buildDatasets(o.data, repoRoot);
lockWork(o.work);
const need = o.quick ? 2e9 : 15e9;
const free = freeBytes(o.work);
if (free < need) log(`WARNING: ${(free / 1e9).toFixed(1)} GB free in ${o.work}, the benchmark needs ~${need / 1e9} GB`);

/**
 * Restores go to tmpfs when it has room for two restored trees: on this machine's ext4 (no journal), creating
 * files right after a large deletion costs far more system time than on a fresh file system (an untar of Linux
 * 6.1: 6.9 s in the issue's baseline, 27-39 s later in the day, 1.35 s on tmpfs; `perf`: ext4's inode
 * allocator, `recently_deleted`), so on disk the order and history of the runs decide the result.
 */
function defaultRestoreDir() {
  const shm = '/dev/shm';
  return fsType(shm) === 'tmpfs' && freeBytes(shm) > (o.quick ? 1e9 : 4e9) ? path.join(shm, 'flashback-bench-restore') : path.join(o.work, 'restore');
}
function fsType(dir) {
  let d = dir;
  while (!fs.existsSync(d)) d = path.dirname(d);
  // the last line is the mount on top (a path can be mounted over: /dev/shm is listed twice here)
  return sh(`findmnt -no FSTYPE -T ${q(d)}`, { allowFail: true }).out.trim().split('\n').pop();
}

const W = {
  live: path.join(o.work, 'live', 'data'),
  repos: path.join(o.work, 'repos'),
  restore: o.restoreDir ?? defaultRestoreDir(),
  cache: path.join(o.work, 'cache'),
  logs: path.join(o.work, 'logs'),
};
const restoreFs = fsType(W.restore);
const clean = () => sh(`rm -rf ${[path.dirname(W.live), W.repos, W.restore, W.cache].map(q).join(' ')}`);
clean();
sh(`rm -rf ${q(W.logs)} && mkdir -p ${q(W.logs)}`);

const machine = machineInfo(o.work, repoRoot);
const records = [];
const facts = {};
const checks = [];
const probes = {};
// NODE_EXTRA_CA_CERTS makes every Node process parse that CA bundle as it starts (measured below); no step
// here opens a TLS connection, and a user's shell does not normally set it, so the benchmarked commands run
// without it. The note in the report says so, with the cost measured on this machine.
const extraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
const envOf = (t) => {
  const e = { ...process.env, ...t.env(o.work) };
  for (const k of ['FLASHBACK_REPOSITORY', 'FLASHBACK_PASSWORD_FILE', 'FLASHBACK_PASSWORD_COMMAND', 'FLASHBACK_TEST_KDF_N', 'NODE_EXTRA_CA_CERTS']) delete e[k];
  return e;
};
/** median wall time of `node -e 0` with and without NODE_EXTRA_CA_CERTS, for the report's note */
function caCertsCost() {
  if (!extraCaCerts) return undefined;
  const med = (env) => [0, 1, 2, 3, 4].map(() => timed(process.execPath, ['-e', '0'], { env, logFile: path.join(W.logs, 'node-start.log') }).wall).sort((a, b) => a - b)[2];
  const without = { ...process.env };
  delete without.NODE_EXTRA_CA_CERTS;
  return { with: med(process.env), without: med(without) };
}
const repoOf = (t, k) => path.join(W.repos, `${t.name}.${k}`);
const applies = (t, ds, step) =>
  (!t.datasets || t.datasets.includes(ds.id)) && (!t.onlySteps || t.onlySteps.includes(step.name)) &&
  (step.kind === 'backup' ? !!t.backup : step.kind === 'restore' ? !!t.restore : step.kind === 'prune' ? !!t.prune : !!t.verify);

function command(t, ds, step, k) {
  const repo = repoOf(t, k);
  const caches = t.cacheDirs(o.work);
  if (step.kind === 'backup') return { ...t.backup(repo, W.live, step.name), warm: [W.live, repo, ...caches] };
  if (step.kind === 'verify') return { ...t.verify(repo), warm: [repo, ...caches] };
  if (step.kind === 'prune') return { ...t.prune(repo), warm: [repo, ...caches] };
  const dest = path.join(W.restore, `${t.name}.${k}`);
  sh(`rm -rf ${q(dest)} && mkdir -p ${q(dest)}`);
  return { ...t.restore(repo, dest), warm: [repo, ...caches], dest };
}

function tail(file) {
  return fs.readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
}

/** A restored tree must equal the live tree (contents, names, link targets); not timed. */
function compareRestore(ds, t, dest) {
  const root = path.join(dest, W.live);
  const r = sh(`diff -rq --no-dereference ${q(W.live)} ${q(root)} 2>&1 | head -n 20`, { allowFail: true });
  const ok = r.ok && r.out.trim() === '';
  checks.push({ ds: ds.id, tool: t.name, restoreMatchesSource: ok, diff: ok ? '' : r.out.trim() });
  if (!ok) log(`WARNING: ${t.name} restore differs from the source:\n${r.out.trim()}`);
}

function probe(t) {
  if (!t.probe || probes[t.name]) return;
  const runs = [0, 1, 2].map(() => timed(t.probe(repoOf(t, 0)).cmd, t.probe(repoOf(t, 0)).args,
    { env: envOf(t), logFile: path.join(W.logs, 'probe.log') }).wall).sort((a, b) => a - b);
  probes[t.name] = runs[1];
}

/** restore targets of the current step, deleted when the step is over */
const restored = [];

function runScenario(ds) {
  const selected = ds.steps.map((s) => !o.steps || o.steps.includes(s.name));
  const last = selected.lastIndexOf(true);
  if (last < 0) return log(`${ds.id}: no selected step, skipped`);
  clean();
  log(`${ds.id}: preparing the live tree`);
  ds.prepare(W.live);
  facts[ds.id] = { sourceBytes: duBytes(W.live) };
  // a tool runs a step if the step is timed, or (untimed) if one of its later steps is
  const needs = (t, si) => ds.steps.some((s, sj) => sj >= si && selected[sj] && applies(t, ds, s));
  const active = tools.filter((t) => needs(t, 0));
  for (const t of active) for (let k = 0; k < o.runs; k++) t.init?.(repoOf(t, k), envOf(t));

  ds.steps.slice(0, last + 1).forEach((step, si) => {
    if (step.change) {
      log(`${ds.id}: changing the live tree for ${step.name}`);
      facts[ds.id][step.name] = { ...step.change(W.live), sourceBytes: duBytes(W.live) };
    }
    // untimed, only backups matter (they build the state later steps start from)
    const who = active.filter((t) => applies(t, ds, step) && needs(t, si) && (selected[si] || step.kind === 'backup'));
    const isTimed = selected[si];
    if (isTimed && o.quietWait > 0) log(`${ds.id} ${step.name}: machine ${waitQuiet(o.quietWait)}% busy at start`);
    for (let k = 0; k < o.runs; k++) {
      const rot = (k + si) % who.length; // alternate the order of the tools from run to run and step to step
      for (const t of [...who.slice(rot), ...who.slice(0, rot)]) {
        const c = command(t, ds, step, k);
        const logFile = path.join(W.logs, `${ds.id}.${t.name}.${step.name}.log`);
        const env = envOf(t);
        if (!isTimed) {
          const fd = fs.openSync(logFile, 'a');
          const r = spawnSync(c.cmd, c.args, { cwd: c.cwd, env, stdio: ['ignore', fd, fd] });
          fs.closeSync(fd);
          if (r.status !== 0) log(`WARNING: untimed ${t.name} ${step.name} exited ${r.status}:\n${tail(logFile)}`);
        } else {
          const repo = repoOf(t, k);
          const sizeBefore = duBytes(repo);
          warm(c.warm);
          log(`${ds.id} ${step.name} run ${k + 1}/${o.runs}: ${t.name}`);
          const r = timed(c.cmd, c.args, { cwd: c.cwd, env, logFile });
          const sizeAfter = duBytes(repo);
          if (r.exit !== 0) log(`WARNING: ${t.name} ${step.name} exited ${r.exit}:\n${tail(logFile)}`);
          records.push({ ds: ds.id, step: step.name, tool: t.name, run: k, ...r, sizeBefore, sizeAfter, growth: sizeAfter - sizeBefore });
          log(`  ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s CPU, ${r.rss.toFixed(0)} MiB, exit ${r.exit}`);
        }
        if (c.dest) {
          if (k === 0) compareRestore(ds, t, c.dest);
          // tmpfs (memory) holds one restored tree at a time, and deleting it leaves nothing pending
          if (restoreFs === 'tmpfs') sh(`rm -rf ${q(c.dest)}`);
          else restored.push(c.dest);
        }
      }
    }
    // On a disk, restored trees are deleted only once every tool has restored: a restore that starts right after the
    // deletion of another tool's 1.3 GB tree pays for the file system's pending work (measured on d3: restic
    // 7.8 s → 19.0 s, Flashback 6.2 s → 12.1 s, mostly system time in file creation), so whichever tool came
    // second was penalised.
    if (restored.length) {
      sh(`rm -rf ${restored.map(q).join(' ')} && sync`);
      restored.length = 0;
    }
    if (si === 0 && isTimed) for (const t of active) probe(t);
    // repositories no later step needs are removed (rsync's copies)
    for (const t of active) {
      if (!needs(t, si + 1)) {
        for (let k = 0; k < o.runs; k++) sh(`rm -rf ${q(repoOf(t, k))}`);
      }
    }
  });
}

const caCerts = caCertsCost();
for (const id of o.datasets) runScenario(scen[id]);
if (!o.keep) clean();

// ------------------------------------------------------------------ report
const summary = summarize(records);
const tgts = targets(summary, facts, scen);
const tables = renderTables(summary, tgts, scen, o.runs, facts);
const duration = Math.round((Date.now() - t0) / 1000);
const notes = [
  `Flashback's repositories are created with FLASHBACK_TEST_KDF_N=1024, so its passphrase KDF cost is excluded; ` +
    `restic runs with its default KDF, which every restic command pays` +
    (probes.restic ? ` (restic cat config: ${probes.restic.toFixed(2)} s` +
      (probes.flashback ? `, flashback cat config: ${probes.flashback.toFixed(2)} s)` : ')') : '') + '.',
  NOISE_NOTE,
  ...(caCerts ? [`NODE_EXTRA_CA_CERTS is set on this machine (${extraCaCerts}); the benchmarked commands run without it, ` +
    `as a user's shell would: it makes every Node process parse the whole CA bundle at start-up, which no step here ` +
    `needs (\`node -e 0\`: ${caCerts.with.toFixed(2)} s with it, ${caCerts.without.toFixed(2)} s without, medians of 5).`] : []),
  ...(o.quick ? ['Quick mode: trees of ~0.1 GB, where fixed per-command costs (process start, key derivation, opening ' +
    'the repository) weigh much more than on the full datasets; the targets are meant for the full run.'] : []),
  ...Object.entries(skipped).map(([t, why]) => `${t} not run: ${why}.`),
  ...checks.filter((c) => !c.restoreMatchesSource).map((c) => `${c.ds} ${c.tool}: restored tree DIFFERS from the source.`),
];
const stamp = new Date(t0).toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z') + (o.quick ? '-quick' : '');
const cmdline = `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
const md = [
  `# Flashback benchmark ${stamp}`, '',
  `\`${cmdline}\` — ${o.quick ? 'quick mode' : 'full mode'}, ${o.runs} run(s), ${duration} s in all.`, '',
  `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB, ${machine.kernel}, work dir on ${machine.workFs}; ` +
    `Node ${machine.node}; ${machine.versions.flashback} at ${machine.git}${machine.gitDirty ? ' with uncommitted changes in src/' : ''}, dist/ built ${machine.distBuilt}; ` +
    `${[machine.versions.restic, machine.versions.borg, machine.versions.rsync].filter(Boolean).join('; ')}.`, '',
  'Tools:', '', ...tools.map((t) => `- ${t.name}: ${t.note}`), '',
  'Steps are page-cache warm (the tree and the repository are read before each timed run; `sync` first). ' +
  `Each restore goes to a fresh directory under ${W.restore} (${restoreFs}); ${restoreFs === 'tmpfs' ? 'each is deleted once compared with the source' : 'restored trees are deleted only after every tool has restored'}. ` +
    'Stateful steps use one repository per run, kept in lock-step; wall/CPU (user+sys)/peak RSS are those of the ' +
    'whole tool process (GNU time).', '',
  tables,
  '## Notes', '', ...notes.map((n) => `- ${n}`), '',
  `Restores compared with the source (diff -r): ${checks.map((c) => `${c.ds} ${c.tool} ${c.restoreMatchesSource ? 'OK' : 'DIFF'}`).join(', ') || 'none'}.`,
].join('\n');
const result = { stamp, cmdline, mode: o.quick ? 'quick' : 'full', options: o, machine, durationS: duration,
  tools: tools.map((t) => ({ name: t.name, note: t.note })), skipped, facts, checks, probes, summary, targets: tgts, records };
const files = writeResults(o.results, stamp, result, md);
process.stdout.write(`\n${md}\nresults: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
