/** check [--read-data] [--read-data-subset N%|n/t] [--max-duration D] [--max-bytes SIZE] */
import type { Command } from 'commander';
import { Checker, type CheckResult, type ScrubSummary } from '../../core/checker/checker.js';
import { openRepository, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { parseDuration, parseSize } from '../duration.js';
import { createProgress, formatBytes, withProgress } from '../progress.js';
import type { Printer } from '../printer.js';
import type { Ctx } from '../main.js';

export function parseSubset(s: string): number {
  let m = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[1]) <= 100) return Number(m[1]) / 100;
  m = /^(\d+)\/(\d+)$/.exec(s);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2])) return 1 / Number(m[2]);
  throw new UsageError(`invalid --read-data-subset "${s}"`, 'use a percentage like 10% or a fraction like 1/5');
}

function positive(n: number, flag: string): number {
  if (!(n > 0)) throw new UsageError(`${flag} must be more than zero`);
  return n;
}

const DAY = 86_400_000;

export function coverageLine(c: ScrubSummary, now: number): string {
  if (c.totalPacks === 0) return 'scrub coverage: the repository holds no packs';
  const pct = Math.floor((100 * c.packs) / c.totalPacks);
  let s = `scrub coverage: ${c.packs} of ${c.totalPacks} packs (${pct} %, ${formatBytes(c.bytes)} of ${formatBytes(c.totalBytes)}) verified`;
  if (c.oldest !== undefined) {
    const days = Math.max(0, Math.floor((now - c.oldest) / DAY));
    s += `; oldest verification ${new Date(c.oldest).toISOString().slice(0, 10)} (${days === 0 ? 'today' : `${days} day${days === 1 ? '' : 's'} ago`})`;
  }
  if (c.neverVerified) s += `; ${c.neverVerified} pack${c.neverVerified === 1 ? '' : 's'} never verified`;
  return s;
}

function scrubJson(c: ScrubSummary, now: number): Record<string, unknown> {
  return {
    packs_verified: c.packs,
    packs_total: c.totalPacks,
    bytes_verified: c.bytes,
    bytes_total: c.totalBytes,
    oldest_verification: c.oldest === undefined ? null : new Date(c.oldest).toISOString(),
    oldest_verification_days: c.oldest === undefined ? null : Math.max(0, Math.floor((now - c.oldest) / DAY)),
    packs_never_verified: c.neverVerified,
    packs_damaged: c.damaged,
    record: c.record ?? null,
    stopped: c.stopped ?? null,
    consolidated: c.consolidated ?? null,
    warnings: c.warnings,
  };
}

function printText(out: Printer, r: CheckResult, now: number): void {
  out.info(`checked ${r.snapshots} snapshots, ${r.packs} packs, ${r.blobs} blobs${r.packsRead ? `; read ${r.packsRead} packs (${formatBytes(r.bytesRead)})` : ''}`);
  if (r.scrub.stopped === 'budget') out.info('scrub budget spent: the next run continues with the packs verified least recently');
  if (r.interrupted) out.info('interrupted: the packs read so far are recorded as verified');
  out.info(coverageLine(r.scrub, now));
  if (r.scrub.damaged) out.info(`${r.scrub.damaged} pack(s) were damaged at their last verification (they are read first by the next check --read-data)`);
  for (const w of r.scrub.warnings) out.warn(`${w.file}: ${w.message}`);
  if (r.orphanPacks.length) out.info(`${r.orphanPacks.length} pack(s) are not in the index (left by an interrupted backup; the next backup adopts them)`);
  for (const p of r.problems) process.stderr.write(`error: ${p.file}: ${p.message}${p.blobs?.length ? `\n  blobs: ${p.blobs.slice(0, 10).join(', ')}${p.blobs.length > 10 ? ` and ${p.blobs.length - 10} more` : ''}` : ''}\n`);
  const bySnap = new Map<string, Set<string>>();
  for (const a of r.affected) (bySnap.get(a.snapshot) ?? bySnap.set(a.snapshot, new Set()).get(a.snapshot)!).add(a.path);
  for (const [s, paths] of bySnap) {
    process.stderr.write(`snapshot ${s.slice(0, 8)}: ${paths.size} damaged file(s):\n`);
    for (const p of [...paths].slice(0, 20)) process.stderr.write(`  ${p}\n`);
    if (paths.size > 20) process.stderr.write(`  ... and ${paths.size - 20} more\n`);
  }
  if (r.problems.length === 0 && !r.interrupted && !r.scrub.damaged) out.info('no errors were found');
}

export function registerCheck(program: Command, ctx: Ctx): void {
  program
    .command('check')
    .description('verify the repository structure; with --read-data also read and verify every byte (scrub), least recently verified first')
    .option('--read-data', 'read all packs and verify every blob, least recently verified first')
    .option('--read-data-subset <subset>', 'read only part of the packs, those verified least recently: N% or n/t')
    .option('--max-duration <duration>', 'scrub for at most this long (e.g. 10m, 1h30m), then stop; implies --read-data')
    .option('--max-bytes <size>', 'scrub at most about this many bytes of packs (e.g. 500M, 2G); implies --read-data')
    .action(async (f: { readData?: boolean; readDataSubset?: string; maxDuration?: string; maxBytes?: string }) => {
      const out = ctx.out();
      const subset = f.readDataSubset ? parseSubset(f.readDataSubset) : undefined;
      const maxDuration = f.maxDuration !== undefined ? positive(parseDuration(f.maxDuration, '--max-duration'), '--max-duration') : undefined;
      const maxBytes = f.maxBytes !== undefined ? positive(parseSize(f.maxBytes, '--max-bytes'), '--max-bytes') : undefined;
      const readData = !!f.readData || subset !== undefined || maxDuration !== undefined || maxBytes !== undefined;
      const repo = await openRepository(ctx.g(), out);
      const checker = new Checker(repo, { readData, subset, maxDuration, maxBytes, signal: ctx.signal });
      const progress = createProgress('check', { stream: process.stderr, quiet: out.quiet, json: out.json });
      const s = checker.state;
      const state = () => ({ files: s.packs, bytes: s.bytes, totalFiles: s.totalPacks || undefined, totalBytes: s.totalBytes || undefined });
      const r = await withLock(ctx.g(), repo, false, out, () => withProgress(progress, state, () => checker.run()));
      const now = Date.now();
      if (out.json) {
        out.jsonLine({
          message_type: 'summary',
          num_errors: r.problems.length,
          problems: r.problems,
          affected: r.affected,
          orphan_packs: r.orphanPacks,
          snapshots: r.snapshots,
          packs: r.packs,
          blobs: r.blobs,
          packs_read: r.packsRead,
          bytes_read: r.bytesRead,
          interrupted: r.interrupted,
          scrub: scrubJson(r.scrub, now),
        });
      } else printText(out, r, now);
      if (r.problems.length) {
        process.stderr.write(`${r.problems.length} problem(s) found; the repository is damaged\n  hint: "flashback heal --from-repo OTHER_STICK" (or --from-source) rewrites lost blobs from a twin or the live files; "flashback repair packs" then "flashback repair snapshots" mark what is lost for good (docs/maintenance.md)\n`);
        ctx.setExit(EXIT.error);
      } else if (r.interrupted) ctx.setExit(EXIT.interrupted);
      else if (r.scrub.damaged) {
        // damage found by an earlier scrub and not repaired since: still damage, even if this run did not reread it
        process.stderr.write(`error: ${r.scrub.damaged} pack(s) were found damaged by an earlier check --read-data and are not repaired\n  hint: run "flashback heal --from-repo OTHER_STICK" (or --from-source); what cannot be healed: "flashback repair packs", then "flashback repair snapshots"\n`);
        ctx.setExit(EXIT.error);
      }
    });
}
