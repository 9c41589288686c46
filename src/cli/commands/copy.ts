/** copy --from-repo SOURCE [SNAPSHOT...]: send snapshots (only the blobs the target lacks) between twins. */
import type { Command } from 'commander';
import { LocalBackend } from '../../core/backend/local.js';
import { adoptOrphans, executeCopy, type CopyResult, type CopyState } from '../../core/copy/execute.js';
import { checkFamily, planCopy, type CopyPlan } from '../../core/copy/plan.js';
import { Repository } from '../../core/repository/repository.js';
import { filterSnapshots, resolveSnapshot } from '../../core/repository/snapshots.js';
import { openRepository, repoLocation, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { addFromRepoOptions, openFromRepo, readFromConfig, type FromRepoFlags } from '../from-repo.js';
import { collect, type Ctx } from '../main.js';
import type { Printer } from '../printer.js';
import { createProgress, formatBytes, withProgress } from '../progress.js';
import { snapshotFilterOf, type FilterFlags } from './filters.js';
import { registerHeal } from './heal.js';
import { compareStrings } from '../../core/util/compare.js';

interface CopyFlags extends FromRepoFlags, FilterFlags {
  dryRun?: boolean;
}

export function registerCopy(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('copy')
    .description('copy snapshots from another repository of the same family (-r is the target), sending only the blobs the target lacks')
    .argument('[snapshot...]', 'snapshots of the source to copy: id prefix, latest, latest~N (default: all that pass the filters)');
  addFromRepoOptions(cmd, 'the source repository (of the same family: init --copy-secrets-from)')
    .option('--host <host>', 'only snapshots of this host (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags (comma = and, repeat = or)', collect, [])
    .option('-n, --dry-run', 'print the plan, copy nothing')
    .action(async (refs: string[], f: CopyFlags) => {
      const out = ctx.out();
      const g = ctx.g();
      if (!f.fromRepo) throw new UsageError('copy needs --from-repo SOURCE', 'flashback -r TARGET copy --from-repo SOURCE');
      const targetBackend = new LocalBackend(repoLocation(g));
      const targetConfig = await Repository.readConfig(targetBackend);
      const src = await readFromConfig(f.fromRepo);
      checkFamily(src, { config: targetConfig, location: targetBackend.location });
      const source = await openFromRepo(src.backend, f);
      const target = await openRepository(g, out);
      const lockBoth = <T>(fn: () => Promise<T>): Promise<T> =>
        f.dryRun ? fn() : withLock(g, source, false, out, () => withLock(g, target, false, out, fn));
      await lockBoth(async () => {
        await source.loadIndex();
        await target.loadIndex();
        const orphans = await adoptOrphans(target, !f.dryRun);
        if (orphans) out.info(`adopted ${orphans} pack(s) left by an interrupted run`);
        const all = await source.snapshots.list((file, err) => out.warn(`${src.location}: ${file}: ${err.message} (not copied)`));
        const filtered = filterSnapshots(all, snapshotFilterOf(f));
        const chosen = refs.length ? [...new Map(refs.map((r) => resolveSnapshot(filtered, r)).map((r) => [r.id, r])).values()] : filtered;
        chosen.sort((a, b) => compareStrings(a.snapshot.time, b.snapshot.time) || compareStrings(a.id, b.id));
        const targetSnaps = await target.snapshots.list((file, err) => out.warn(`${target.location}: ${file}: ${err.message}`));
        const plan = await planCopy(source, target, chosen, targetSnaps, { signal: ctx.signal });
        printPlan(out, plan, !!f.dryRun);
        for (const x of plan.incomplete) process.stderr.write(`error: snapshot ${x.id.slice(0, 8)} is not copied: ${x.reason}\n`);
        if (plan.incomplete.length) {
          process.stderr.write(`  hint: heal the source first ("flashback -r ${src.location} heal --from-repo ..."), or "repair snapshots" there\n`);
          ctx.setExit(EXIT.error);
        }
        if (f.dryRun) {
          if (out.json) out.jsonLine(summaryJson(plan, undefined));
          return;
        }
        const state: CopyState = { blobs: 0, totalBlobs: 0, bytes: 0, totalBytes: 0 };
        const progress = createProgress('copy', { stream: process.stderr, quiet: out.quiet, json: out.json });
        const ps = () => ({ files: state.blobs, bytes: state.bytes, totalFiles: state.totalBlobs, totalBytes: state.totalBytes });
        const r = await withProgress(progress, ps, () => executeCopy(source, target, plan, state, ctx.signal));
        if (out.json) out.jsonLine(summaryJson(plan, r));
        else printResult(out, r);
        for (const d of r.damaged) process.stderr.write(`error: ${d.message}\n`);
        for (const x of r.notCopied) process.stderr.write(`error: snapshot ${x.id.slice(0, 8)} is not copied: ${x.reason}\n`);
        if (r.damaged.length) {
          process.stderr.write(`  hint: run "flashback -r ${src.location} check --read-data", then heal the source from another twin\n`);
          ctx.setExit(EXIT.error);
        }
        if (r.interrupted) {
          process.stderr.write('interrupted: the blobs sent so far are indexed in the target; run copy again to finish\n');
          ctx.setExit(EXIT.interrupted);
        }
      });
    });
  registerHeal(program, ctx);
}

function printPlan(out: Printer, p: CopyPlan, dryRun: boolean): void {
  out.info(`${p.copy.length} snapshot(s) to copy, ${p.skipped.length} already present${p.incomplete.length ? `, ${p.incomplete.length} incomplete in the source` : ''}`);
  out.info(`${p.blobs} blob(s) missing in the target (${p.dataBlobs} data, ${p.treeBlobs} tree): ${formatBytes(p.rawBytes)} (${formatBytes(p.storedBytes)} stored) in ${p.byPack.size} source pack(s)${dryRun ? ' (dry run: nothing copied)' : ''}`);
}

function printResult(out: Printer, r: CopyResult): void {
  for (const c of r.copied) out.info(`snapshot ${c.id.slice(0, 8)} copied as ${c.target.slice(0, 8)}`);
  out.info(`copied ${r.copied.length} snapshot(s): sent ${r.blobs} blob(s), ${formatBytes(r.rawBytes)} (${formatBytes(r.storedBytes)} stored) in ${r.packs} pack(s); read ${formatBytes(r.bytesRead)} from the source`);
}

function summaryJson(p: CopyPlan, r: CopyResult | undefined): Record<string, unknown> {
  return {
    message_type: 'summary',
    dry_run: !r,
    snapshots_planned: p.copy.length,
    snapshots_copied: r ? r.copied.length : 0,
    snapshots_skipped: p.skipped.length,
    snapshots_incomplete: p.incomplete,
    snapshots_not_copied: r?.notCopied ?? [],
    copied: r?.copied.map((c) => ({ source: c.id, target: c.target })) ?? [],
    skipped: p.skipped.map((s) => ({ source: s.id, target: s.target })),
    blobs_missing: p.blobs,
    bytes_missing_raw: p.rawBytes,
    bytes_missing_stored: p.storedBytes,
    blobs_copied: r?.blobs ?? 0,
    data_blobs: r?.dataBlobs ?? 0,
    tree_blobs: r?.treeBlobs ?? 0,
    bytes_raw: r?.rawBytes ?? 0,
    bytes_stored: r?.storedBytes ?? 0,
    bytes_read: r?.bytesRead ?? 0,
    packs_written: r?.packs ?? 0,
    damaged: r?.damaged ?? [],
    interrupted: r?.interrupted ?? false,
  };
}
