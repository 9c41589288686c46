// Medians, the comparison tables, the targets of the issue, and the .json / .md result files.
import fs from 'node:fs';
import path from 'node:path';

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const fx = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const mb = (b) => (b === null || b === undefined ? '—' : (b / 1e6).toFixed(b < 1e7 ? 2 : 0));
/** bytes as kB below 1 MB, else MB */
export const human = (b) => (b === null || b === undefined ? '—' : Math.abs(b) < 1e6 ? `${(b / 1e3).toFixed(1)} kB` : `${mb(b)} MB`);

/** Per dataset / step / tool: medians over the runs. */
export function summarize(records) {
  const groups = new Map();
  for (const r of records) {
    const k = `${r.ds}\0${r.step}\0${r.tool}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  return [...groups.values()].map((rs) => {
    const walls = rs.map((r) => r.wall);
    return {
      ds: rs[0].ds, step: rs[0].step, tool: rs[0].tool, n: rs.length,
      failed: rs.filter((r) => r.exit !== 0).length,
      wall: median(walls), wallMin: Math.min(...walls), wallMax: Math.max(...walls),
      cpu: median(rs.map((r) => r.cpu)), rss: median(rs.map((r) => r.rss)),
      size: median(rs.map((r) => r.sizeAfter)), growth: median(rs.map((r) => r.growth)),
      loadBefore: median(rs.map((r) => r.loadBefore)), loadAfter: median(rs.map((r) => r.loadAfter)),
      otherCpuPct: median(rs.map((r) => r.otherCpuPct)), stealPct: median(rs.map((r) => r.stealPct)),
    };
  });
}

function table(header, rows) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(header), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? null : a / b);

/** The targets of the issue, evaluated on what was measured. */
export function targets(summary, facts, scen) {
  const get = (ds, step, tool) => summary.find((s) => s.ds === ds && s.step === step && s.tool === tool);
  const out = [];
  const add = (ds, what, value, limit, pass, detail) =>
    out.push({ ds, target: what, value, limit, result: pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL', detail });
  for (const ds of [...new Set(summary.map((s) => s.ds))]) {
    const wallRatio = (step, peer, limit, what) => {
      const f = get(ds, step, 'flashback');
      const p = get(ds, step, peer);
      if (!f) return;
      const r = ratio(f?.wall, p?.wall);
      const ok = r === null || f.failed || p.failed ? null : r <= limit;
      add(ds, what, r === null ? `${peer} not run` : `${fx(r)}× (${fx(f.wall, 1)} s vs ${fx(p.wall, 1)} s)`,
        `≤ ${limit}×`, f.failed ? false : ok);
    };
    wallRatio('initial', 'restic', 0.6, 'first backup wall ≤ 0.6× restic');
    wallRatio('incr-6.12', 'restic', 0.7, 'incremental 6.1→6.12 wall ≤ 0.7× restic');
    wallRatio('restore', 'restic', 0.6, 'full restore wall ≤ 0.6× restic');
    wallRatio('check', 'restic', 0.5, 'check --read-data wall ≤ 0.5× restic');
    wallRatio('nochange', 'rsync', 1, 'no-change rerun wall ≤ rsync -a');
    // repository size after the dataset's last backup step
    const backups = scen[ds].steps.filter((s) => s.kind === 'backup').map((s) => s.name);
    const lastStep = [...backups].reverse().find((st) => get(ds, st, 'flashback'));
    if (lastStep) {
      const f = get(ds, lastStep, 'flashback');
      const peers = ['restic', 'borg'].map((t) => get(ds, lastStep, t)).filter(Boolean);
      const min = peers.length ? Math.min(...peers.map((p) => p.size)) : null;
      add(ds, `repository size after ${lastStep} ≤ min(restic, borg zstd,3)`,
        min === null ? 'no peer run' : `${mb(f.size)} MB vs ${mb(min)} MB (${peers.map((p) => p.tool).join(', ')})`,
        '≤ 1×', min === null ? null : f.size <= min);
    }
    const peak = (tool) => {
      const v = summary.filter((s) => s.ds === ds && s.tool === tool).map((s) => s.rss);
      return v.length ? Math.max(...v) : null;
    };
    const fr = peak('flashback');
    const rr = peak('restic');
    add(ds, 'peak RSS (max over steps) ≤ restic', rr === null ? 'restic not run' : `${fx(fr, 0)} MiB vs ${fx(rr, 0)} MiB`,
      '≤ 1×', rr === null ? null : fr <= rr);
    const mv = get(ds, 'move-videos', 'flashback');
    const moved = facts[ds]?.['move-videos']?.movedBytes;
    if (mv && moved) {
      const share = (100 * mv.growth) / moved;
      add(ds, 'moved directory adds < 1% of its size', `${fx(share, 3)}% (${human(mv.growth)} of ${human(moved)})`,
        '< 1%', share < 1);
    }
  }
  return out;
}

/** The tables as text (valid Markdown, aligned for a terminal). */
export function renderTables(summary, tgts, scen, runs, facts) {
  const parts = [];
  for (const ds of [...new Set(summary.map((s) => s.ds))]) {
    const rows = [];
    const ratios = [];
    for (const st of scen[ds].steps) {
      const here = summary.filter((s) => s.ds === ds && s.step === st.name);
      if (!here.length) continue;
      for (const s of here) {
        rows.push([st.name, s.tool + (s.failed ? ` (${s.failed} FAILED)` : ''),
          `${fx(s.wall)} (${fx(s.wallMin)}–${fx(s.wallMax)})`, fx(s.cpu), fx(s.rss, 0),
          st.name === 'move-videos' ? `${mb(s.size)} (+${human(s.growth)})` : mb(s.size),
          `${fx(s.loadBefore)}→${fx(s.loadAfter)}`, `${fx(s.otherCpuPct, 0)} / ${fx(s.stealPct, 0)}`]);
      }
      const f = here.find((s) => s.tool === 'flashback');
      if (!f) continue;
      const cells = [st.name];
      for (const peer of ['restic', 'borg', 'rsync']) {
        const p = here.find((s) => s.tool === peer);
        if (peer === 'rsync' && !p) continue;
        cells.push(...['wall', 'cpu', 'rss', 'size'].map((m) => fx(ratio(f[m], p?.[m]))));
      }
      ratios.push(cells);
    }
    const hasRsync = summary.some((s) => s.ds === ds && s.tool === 'rsync');
    const f = facts[ds] ?? {};
    const changes = Object.entries(f).filter(([, v]) => typeof v === 'object').map(([st, v]) =>
      `${st}: ${[v.movedBytes && `Videos/ moved (${human(v.movedBytes)}, ${v.movedFiles} files)`,
        v.touchedFiles && `${v.touchedFiles} files touched (${human(v.touchedBytes)})`,
        `source ${human(v.sourceBytes)}`].filter(Boolean).join(', ')}`);
    parts.push(`### ${scen[ds].title}\n\nSource ${human(f.sourceBytes)} at the start${changes.length ? `; ${changes.join('; ')}` : ''}. ` +
      `Median of ${runs} run(s), wall min–max in brackets; repo MB = apparent size of the repository after the step.\n`);
    parts.push(table(['step', 'tool', 'wall s', 'CPU s', 'peak RSS MiB', 'repo MB', 'load 1m before→after', 'other / steal CPU %'], rows));
    const hdr = ['step', '÷restic wall', 'CPU', 'RSS', 'size', '÷borg wall', 'CPU', 'RSS', 'size'];
    if (hasRsync) hdr.push('÷rsync wall', 'CPU', 'RSS', 'size');
    const padded = ratios.map((r) => [...r, ...Array(hdr.length - r.length).fill('—')].slice(0, hdr.length));
    parts.push(`\nFlashback ÷ peer (medians; < 1 = Flashback better):\n\n${table(hdr, padded)}`);
    const t = tgts.filter((x) => x.ds === ds);
    if (t.length) parts.push(`\nTargets:\n\n${table(['target', 'measured', 'limit', 'result'], t.map((x) => [x.target, x.value, x.limit, x.result]))}`);
    parts.push('');
  }
  return parts.join('\n');
}

export const NOISE_NOTE =
  'Noise: absolute times move by ±30% between runs on this shared 2-core machine (other jobs, page-cache ' +
  'eviction); compare only the ratios within one run. Tools alternate within each step so that load hits ' +
  'all of them alike; "other / steal CPU %" are the shares of the machine\'s CPU used by other processes ' +
  'and taken by the hypervisor (steal) during the timed runs.';

export function writeResults(dir, stamp, result, text) {
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, stamp);
  const put = (file, data) => {
    fs.writeFileSync(`${file}.tmp`, data);
    fs.renameSync(`${file}.tmp`, file);
  };
  put(`${base}.json`, `${JSON.stringify(result, null, 1)}\n`);
  put(`${base}.md`, text);
  return [`${base}.json`, `${base}.md`];
}
