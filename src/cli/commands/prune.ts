/** prune [--dry-run] [--max-unused 5%|SIZE|unlimited] [--max-repack-size SIZE] */
import type { Command } from 'commander';
import { planPrune, type PrunePlan, type PruneOptions } from '../../core/prune/plan.js';
import { executePrune, type PruneResult } from '../../core/prune/execute.js';
import type { Lock } from '../../core/repository/lock.js';
import type { Repository } from '../../core/repository/repository.js';
import { openRepository, withLock } from '../context.js';
import { parseSize } from '../duration.js';
import { UsageError, EXIT } from '../exit.js';
import { createProgress, formatBytes, withProgress } from '../progress.js';
import type { Printer } from '../printer.js';
import type { Ctx } from '../main.js';

export interface PruneFlags {
  dryRun?: boolean;
  maxUnused?: string;
  maxRepackSize?: string;
}

export function parseMaxUnused(s: string): NonNullable<PruneOptions['maxUnused']> {
  if (s === 'unlimited') return { fraction: 1 };
  const m = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (m) {
    const f = Number(m[1]) / 100;
    if (f < 0 || f > 1) throw new UsageError(`invalid --max-unused "${s}"`, 'a percentage is between 0% and 100%');
    return { fraction: f };
  }
  return { bytes: parseSize(s, '--max-unused') };
}

export function pruneOptions(f: PruneFlags, signal: AbortSignal): PruneOptions {
  return {
    maxUnused: parseMaxUnused(f.maxUnused ?? '5%'),
    maxRepackBytes: f.maxRepackSize ? parseSize(f.maxRepackSize, '--max-repack-size') : undefined,
    signal,
  };
}

/** Plans and (unless dry-run) runs prune on a repository the caller holds an exclusive lock on. */
export async function runPrune(ctx: Ctx, repo: Repository, lock: Lock | undefined, f: PruneFlags, ignoreSnapshots?: Set<string>): Promise<void> {
  const out = ctx.out();
  const opts = pruneOptions(f, ctx.signal);
  opts.ignoreSnapshots = ignoreSnapshots;
  const progress = createProgress('prune', { stream: process.stderr, quiet: out.quiet, json: out.json });
  const st = { files: 0, bytes: 0, totalFiles: undefined as number | undefined };
  opts.onProgress = (_phase, done, total) => {
    st.files = done;
    st.totalFiles = total || undefined;
  };
  const plan = await withProgress(progress, () => st, () => planPrune(repo, opts));
  printPlan(out, plan, !!f.dryRun, repo);
  if (f.dryRun) return;
  if (!lock) throw new Error('prune needs an exclusive lock');
  const before = await repo.backend.freeSpace();
  const r = await withProgress(createProgress('prune', { stream: process.stderr, quiet: out.quiet, json: out.json }), () => st, () => executePrune(repo, plan, lock, opts));
  const after = await repo.backend.freeSpace();
  printResult(out, r, before, after);
  if (r.damaged.length || r.stoppedForSpace) ctx.setExit(EXIT.error);
}

function printPlan(out: Printer, p: PrunePlan, dryRun: boolean, repo: Repository): void {
  const ids = (a: string) => p.action.flatMap((x, n) => (x === a ? [repo.index.packId(n)] : []));
  if (out.json) {
    out.jsonLine({ message_type: 'plan', dry_run: dryRun, snapshots: p.snapshots, used_blobs: p.usedBlobs, used_bytes: p.usedBytes, packs: p.packs, bytes: p.bytes, delete_packs: [...ids('delete'), ...p.unreadableOrphans], repack_packs: ids('repack') });
    return;
  }
  const b = formatBytes;
  out.info(`${p.snapshots} snapshot(s) reference ${p.usedBlobs} blobs (${b(p.usedBytes)}) in ${p.packs.total} pack(s) of ${b(p.bytes.total)}`);
  if (p.packs.orphans) out.info(`${p.packs.orphans} pack(s) not in the index (left by an interrupted run) were included`);
  if (p.packs.missing) out.info(`${p.packs.missing} pack(s) in the index are missing from the device and hold nothing a snapshot needs: dropped from the index`);
  out.info(`${dryRun ? 'would delete' : 'to delete'}: ${p.packs.delete} pack(s), ${b(p.bytes.delete)} unused`);
  out.info(`${dryRun ? 'would repack' : 'to repack'}: ${p.packs.repack} pack(s), ${b(p.bytes.repack)}, copying ${b(p.bytes.copy)} still in use`);
  out.info(`to keep:   ${p.packs.keep} pack(s)`);
  for (const id of ids('delete')) out.verbose(`  delete ${id}`);
  for (const id of ids('repack')) out.verbose(`  repack ${id}`);
  out.info(`unused space: ${b(p.bytes.unusedBefore)} now, ${b(p.bytes.unusedAfter)} after`);
  out.info(`${dryRun ? 'this would free' : 'this frees'} about ${b(p.bytes.freed)}${dryRun ? ' (dry run: nothing was changed)' : ''}`);
}

function printResult(out: Printer, r: PruneResult, before: number | undefined, after: number | undefined): void {
  if (out.json) {
    out.jsonLine({ message_type: 'summary', deleted_packs: r.deletedPacks, deleted_bytes: r.deletedBytes, repacked_packs: r.repackedPacks, new_packs: r.newPacks, new_bytes: r.newBytes, copied_blobs: r.copiedBlobs, index_files_written: r.indexFilesWritten, index_files_removed: r.indexFilesRemoved, tmp_files_removed: r.tmpRemoved, free_before: before ?? null, free_after: after ?? null, damaged: r.damaged, stopped_for_space: r.stoppedForSpace ?? null });
  } else {
    out.info(`deleted ${r.deletedPacks} pack(s) (${formatBytes(r.deletedBytes)}); repacked ${r.repackedPacks} into ${r.newPacks} new pack(s) (${formatBytes(r.newBytes)}); index: ${r.indexFilesRemoved} file(s) replaced by ${r.indexFilesWritten}`);
    if (before !== undefined && after !== undefined) out.info(`free space on the device: ${formatBytes(before)} before, ${formatBytes(after)} after`);
    if (r.tmpRemoved) out.info(`removed ${r.tmpRemoved} temporary file(s) left by interrupted runs`);
  }
  for (const d of r.damaged) process.stderr.write(`error: ${d.message}; that pack was left as it is\n`);
  if (r.damaged.length) process.stderr.write('  hint: run "flashback check --read-data" to see what is affected\n');
  if (r.stoppedForSpace) {
    process.stderr.write(`error: not enough free space to repack ${r.stoppedForSpace.packs} more pack(s): needs about ${formatBytes(r.stoppedForSpace.need)}, the device has ${formatBytes(r.stoppedForSpace.free)}\n  hint: the wholly unused packs were deleted and the repository is consistent; free some space, or run prune with --max-unused unlimited\n`);
  }
}

export function registerPrune(program: Command, ctx: Ctx): void {
  program
    .command('prune')
    .description('delete data that no snapshot references (plans first; --dry-run shows the plan only)')
    .option('-n, --dry-run', 'show what would be deleted and repacked, change nothing')
    .option('--max-unused <limit>', 'tolerate this much unused space in partly used packs: N%, a size, or "unlimited"', '5%')
    .option('--max-repack-size <size>', 'repack at most this many bytes of packs in one run')
    .action(async (f: PruneFlags) => {
      const out = ctx.out();
      pruneOptions(f, ctx.signal); // usage errors before asking for the passphrase
      const repo = await openRepository(ctx.g(), out);
      await withLock(ctx.g(), repo, true, out, (lock) => runPrune(ctx, repo, lock, f));
    });
}
