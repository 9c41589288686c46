// Shell helpers, tool installation, machine facts and the timer (GNU time around one command).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const log = (msg) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Run a bash command; throws with its stderr on failure; returns stdout. */
export function sh(cmd, { cwd, env, allowFail = false } = {}) {
  const r = spawnSync('bash', ['-c', cmd], { cwd, env: env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0 && !allowFail) {
    throw new Error(`command failed (${r.status ?? r.signal}): ${cmd}\n${(r.stderr || '').slice(-2000)}`);
  }
  return allowFail ? { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '' } : r.stdout;
}

export const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
export const have = (bin) => sh(`command -v ${q(bin)}`, { allowFail: true }).ok;
export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

let aptUpdated = false;
/** apt-get install as root (apt-get update once if the first try fails); false if impossible. */
export function aptInstall(pkgs) {
  if (!isRoot() || !have('apt-get')) return false;
  const inst = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${pkgs.map(q).join(' ')}`;
  log(`installing ${pkgs.join(' ')} with apt-get`);
  if (sh(`${inst} >&2`, { allowFail: true }).ok) return true;
  if (!aptUpdated) {
    aptUpdated = true;
    sh('apt-get update -q >&2', { allowFail: true });
    return sh(`${inst} >&2`, { allowFail: true }).ok;
  }
  return false;
}

/** Make sure a program exists, installing its Debian package if allowed. Returns a reason or null. */
export function ensureProgram(bin, pkg, install) {
  if (have(bin)) return null;
  if (install && aptInstall([pkg]) && have(bin)) return null;
  return `${bin} is missing: install it (as root: apt-get install ${pkg})`;
}

export const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Machine-wide CPU ticks: [busy, total, steal] (steal: time the hypervisor gave to other guests). */
export function cpuTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return [user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq + steal, steal];
}
export const loadavg1 = () => Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const HZ = Number(sh('getconf CLK_TCK').trim()) || 100;
export const NCPU = os.cpus().length;

/** Wait up to maxS seconds until the machine is less than pct % busy over 3 s; returns the busy %. */
export function waitQuiet(maxS, pct = 15) {
  const t0 = Date.now();
  for (;;) {
    const a = cpuTicks();
    sleep(3000);
    const b = cpuTicks();
    const busy = (100 * (b[0] - a[0])) / Math.max(1, b[1] - a[1]);
    if (busy < pct || (Date.now() - t0) / 1000 >= maxS) return Math.round(busy);
  }
}

export function duBytes(p) {
  if (!fs.existsSync(p)) return null;
  return Number(sh(`du -sb ${q(p)}`).split('\t')[0]);
}

export function freeBytes(dir) {
  let d = dir;
  while (!fs.existsSync(d)) d = path.dirname(d);
  return Number(sh(`df -B1 --output=avail ${q(d)} | tail -n 1`).trim());
}

/** Read files into the page cache. */
export function warm(paths) {
  const ex = paths.filter((p) => p && fs.existsSync(p));
  if (ex.length) sh(`find ${ex.map(q).join(' ')} -type f -print0 | xargs -0 -r cat > /dev/null`);
}

/**
 * One timed run: sync, then GNU time around the command (stdout/stderr appended to logFile).
 * Returns wall, cpu (user+sys), rss (MiB), exit code, loadavg before/after, the share of the
 * machine's CPU used by other processes meanwhile and the share stolen by the hypervisor (%).
 */
export function timed(cmd, args, { cwd, env, logFile }) {
  sh('sync');
  const tf = path.join(os.tmpdir(), `fbbench-time-${process.pid}.txt`);
  fs.appendFileSync(logFile, `### ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  const loadBefore = loadavg1();
  const c0 = cpuTicks();
  const r = spawnSync('/usr/bin/time', ['-f', 'FBTIME %e %U %S %M %x', '-o', tf, cmd, ...args], {
    cwd, env, stdio: ['ignore', fd, fd],
  });
  const c1 = cpuTicks();
  const loadAfter = loadavg1();
  fs.closeSync(fd);
  const line = fs.readFileSync(tf, 'utf8').split('\n').find((l) => l.startsWith('FBTIME')) ?? '';
  fs.rmSync(tf, { force: true });
  const [wall, user, sys, rssKiB, exit] = line.split(' ').slice(1).map(Number);
  const cpu = user + sys;
  const busy = (c1[0] - c0[0]) / HZ;
  const otherCpuPct = wall > 0 ? Math.max(0, (100 * (busy - cpu)) / (wall * NCPU)) : null;
  const stealPct = wall > 0 ? (100 * (c1[2] - c0[2])) / HZ / (wall * NCPU) : null;
  return {
    wall, cpu, rss: rssKiB / 1024, exit: Number.isFinite(exit) ? exit : (r.status ?? -1),
    loadBefore, loadAfter, otherCpuPct: otherCpuPct === null ? null : Math.round(otherCpuPct),
    stealPct: stealPct === null ? null : Math.round(stealPct),
  };
}

/** An exclusive lock on the work directory (a pid file); throws if another live run holds it. */
export function lockWork(work) {
  fs.mkdirSync(work, { recursive: true });
  const f = path.join(work, '.lock');
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(f, String(process.pid), { flag: 'wx' });
      const release = () => { try { if (fs.readFileSync(f, 'utf8') === String(process.pid)) fs.rmSync(f); } catch {} };
      process.on('exit', release);
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(f, 'utf8'));
      let alive = false;
      try { process.kill(pid, 0); alive = true; } catch {}
      if (alive) throw new Error(`another benchmark (pid ${pid}) is using ${work}`);
      fs.rmSync(f, { force: true });
    }
  }
  throw new Error(`cannot lock ${work}`);
}

export function machineInfo(work, repoRoot) {
  const one = (c) => sh(c, { allowFail: true }).out.trim();
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    kernel: one('uname -sr'),
    cpus: NCPU,
    cpuModel: (os.cpus()[0] || {}).model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    workFs: one(`findmnt -no SOURCE,FSTYPE -T ${q(work)}`),
    git: one(`git -C ${q(repoRoot)} rev-parse --short HEAD`),
    distBuilt: (() => { try { return fs.statSync(path.join(repoRoot, 'dist', 'src', 'cli', 'main.js')).mtime.toISOString(); } catch { return null; } })(),
    gitDirty: one(`git -C ${q(repoRoot)} status --porcelain -- src native package.json`).length > 0,
    versions: {
      restic: one('restic version 2>/dev/null | head -n 1'),
      borg: one('borg --version 2>/dev/null'),
      rsync: one("rsync --version 2>/dev/null | head -n 1 | tr -s ' '"),
      flashback: one(`${q(path.join(repoRoot, 'bin', 'flashback'))} --version 2>/dev/null`),
    },
  };
}
