/** forget [SNAPSHOT...] --keep-*: remove snapshots by policy or by name (never data: that is prune's job) */
import { Option, type Command } from 'commander';
import { FlashbackError } from '../../core/errors/errors.js';
import type { SnapshotRef } from '../../core/model/snapshot.js';
import { lockRepository } from '../../core/repository/lock.js';
import { runPrune } from './prune.js';
import { lockOptions } from '../context.js';
import { filterSnapshots, resolveSnapshot } from '../../core/repository/snapshots.js';
import { parseDuration, type Duration } from '../../core/retention/duration.js';
import { executeForget, groupsKeepingNothing, parseGroupBy, planForget, planForgetIds, type ForgetGroup, type ForgetPlan } from '../../core/retention/forget.js';
import { describePolicy, policyIsEmpty, type RetentionPolicy } from '../../core/retention/policy.js';
import { openRepository } from '../context.js';
import { UsageError } from '../exit.js';
import { collect, type Ctx } from '../main.js';
import { localTime, table, type Printer } from '../printer.js';
import { snapshotJson } from './browse.js';
import { snapshotFilterOf, type FilterFlags } from './filters.js';

interface ForgetFlags extends FilterFlags {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: Duration;
  keepWithinHourly?: Duration;
  keepWithinDaily?: Duration;
  keepWithinWeekly?: Duration;
  keepWithinMonthly?: Duration;
  keepWithinYearly?: Duration;
  keepTag: string[];
  groupBy: string;
  dryRun?: boolean;
  prune?: boolean;
  maxUnused?: string;
  maxRepackSize?: string;
  force?: boolean;
}

function count(v: string): number {
  if (v === 'unlimited') return Infinity;
  if (!/^\d+$/.test(v)) throw new UsageError(`invalid count "${v}"`, 'give a whole number, or "unlimited"');
  return Number(v);
}

export function policyOf(f: ForgetFlags): RetentionPolicy {
  return {
    last: f.keepLast,
    hourly: f.keepHourly,
    daily: f.keepDaily,
    weekly: f.keepWeekly,
    monthly: f.keepMonthly,
    yearly: f.keepYearly,
    within: f.keepWithin,
    withinHourly: f.keepWithinHourly,
    withinDaily: f.keepWithinDaily,
    withinWeekly: f.keepWithinWeekly,
    withinMonthly: f.keepWithinMonthly,
    withinYearly: f.keepWithinYearly,
    tags: f.keepTag.map((t) => t.split(',').filter(Boolean)).filter((l) => l.length),
  };
}

export function registerForget(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('forget')
    .description('remove snapshots by a retention policy or by id (data stays until prune)')
    .argument('[snapshot...]', 'snapshots to remove: id prefix, latest, latest~N')
    .option('-l, --keep-last <n>', 'keep the n newest snapshots ("unlimited": all)', count)
    .option('-H, --keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one', count)
    .option('-d, --keep-daily <n>', 'keep the newest snapshot of each of the last n days that have one', count)
    .option('-w, --keep-weekly <n>', 'keep the newest snapshot of each of the last n ISO weeks that have one', count)
    .option('-m, --keep-monthly <n>', 'keep the newest snapshot of each of the last n months that have one', count)
    .option('-y, --keep-yearly <n>', 'keep the newest snapshot of each of the last n years that have one', count)
    .option('--keep-within <duration>', 'keep snapshots newer than the duration (e.g. 1y2m3d4h) before the newest snapshot', parseDuration);
  for (const p of ['hourly', 'daily', 'weekly', 'monthly', 'yearly']) {
    cmd.addOption(new Option(`--keep-within-${p} <duration>`, `keep ${p} snapshots within the duration before the newest snapshot`).argParser(parseDuration));
  }
  cmd
    .option('--keep-tag <tags>', 'keep snapshots with these tags (comma = and, repeat = or)', collect, [])
    .option('--host <host>', 'only consider snapshots of this host (repeatable)', collect, [])
    .option('--path <path>', 'only consider snapshots of this path (repeatable)', collect, [])
    .option('--tag <tags>', 'only consider snapshots with these tags (comma = and, repeat = or)', collect, [])
    .option('-g, --group-by <fields>', 'apply the policy per group of host, paths, tags ("" for one group)', 'host,paths')
    .option('-n, --dry-run', 'print the plan, remove nothing')
    .option('--force', 'also when the policy keeps no snapshot of a group')
    .option('--prune', 'run prune afterwards to delete the data no snapshot references')
    .option('--max-unused <limit>', 'with --prune: see "prune --help"', '5%')
    .option('--max-repack-size <size>', 'with --prune: see "prune --help"')
    .action(async (refs: string[], f: ForgetFlags) => {
      const out = ctx.out();
      const policy = policyOf(f);
      const groupBy = parseGroupBy(f.groupBy);
      if (refs.length && !policyIsEmpty(policy)) throw new UsageError('give snapshot ids or a --keep-* policy, not both');
      if (!refs.length && policyIsEmpty(policy)) {
        throw new FlashbackError('ERR_INVALID', 'no policy given: nothing to forget', {
          hint: 'give --keep-* options (e.g. --keep-daily 7 --keep-weekly 5) or the ids of the snapshots to remove',
        });
      }
      const repo = await openRepository(ctx.g(), out);
      const lock = f.dryRun ? undefined : await lockRepository(repo, true, lockOptions(ctx.g(), out)); // a dry run only reads
      try {
        const all = filterSnapshots(await repo.snapshots.list((file, err) => out.warn(`${file}: ${err.message} (left alone)`)), snapshotFilterOf(f));
        const plan = refs.length
          ? planForgetIds(refs.map((r) => resolveSnapshot(all, r)))
          : planForget(all, policy, { groupBy, now: new Date(), timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone });
        const empty = refs.length || f.force ? [] : groupsKeepingNothing(plan);
        if (empty.length) {
          throw new FlashbackError('ERR_INVALID', `the policy keeps no snapshot of ${empty.map((g) => groupTitle(g)).join('; ')}`, {
            hint: 'check the --keep-* options; pass --force to remove every snapshot of such a group',
          });
        }
        if (!refs.length) out.info(`Applying policy: ${describePolicy(policy)}`);
        printPlan(out, plan, !!f.dryRun, refs.length > 0);
        if (f.dryRun) {
          out.info(`would remove ${plural(plan.remove.length)} (dry run)`);
        } else {
          const n = await executeForget(repo.snapshots, plan, { signal: ctx.signal, onRemoved: (id) => out.verbose(`removed snapshot ${id}`) });
          out.info(`removed ${plural(n)}`);
        }
        // prune under the same exclusive lock; a dry run plans as if the removed snapshots were gone
        if (f.prune) await runPrune(ctx, repo, lock, { dryRun: f.dryRun, maxUnused: f.maxUnused, maxRepackSize: f.maxRepackSize }, new Set(plan.remove));
      } finally {
        await lock?.release();
      }
    });
}

function plural(n: number): string {
  return `${n} snapshot${n === 1 ? '' : 's'}`;
}

function groupTitle(g: ForgetGroup): string {
  const k = g.key;
  const parts = [k.host !== undefined ? `host ${k.host}` : '', k.paths ? `paths [${k.paths.join(', ')}]` : '', k.tags ? `tags [${k.tags.join(', ')}]` : ''];
  return parts.filter(Boolean).join(', ') || 'all snapshots';
}

export function forgetGroupJson(g: ForgetGroup): Record<string, unknown> {
  return {
    tags: g.key.tags ?? null,
    host: g.key.host ?? '',
    paths: g.key.paths ?? null,
    keep: g.keep.map(snapshotJson),
    remove: g.remove.map(snapshotJson),
    reasons: g.reasons.map((r) => ({ snapshot: snapshotJson(r.snapshot), matches: r.matches })),
  };
}

function printPlan(out: Printer, plan: ForgetPlan, dryRun: boolean, explicit: boolean): void {
  if (out.json) return out.line(JSON.stringify(plan.groups.map(forgetGroupJson)));
  if (out.quiet && !dryRun) return;
  const row = (r: SnapshotRef) => [r.id.slice(0, 8), localTime(r.snapshot.time), r.snapshot.hostname, r.snapshot.tags.join(',')];
  for (const g of plan.groups) {
    out.line(explicit ? 'snapshots given on the command line:' : `snapshots for ${groupTitle(g)}:`);
    if (g.keep.length) {
      out.line(`keep ${plural(g.keep.length)}:`);
      const rows = g.reasons.map((k) => [...row(k.snapshot), k.matches.join(', '), k.snapshot.snapshot.paths.join(', ')]);
      for (const l of table(rows.reverse(), ['ID', 'Time', 'Host', 'Tags', 'Reasons', 'Paths'])) out.line(l);
    }
    if (g.remove.length) {
      out.line(`${dryRun ? 'would remove' : 'remove'} ${plural(g.remove.length)}:`);
      const rows = g.remove.map((r) => [...row(r), r.snapshot.paths.join(', ')]);
      for (const l of table(rows.reverse(), ['ID', 'Time', 'Host', 'Tags', 'Paths'])) out.line(l);
    }
    out.line();
  }
}
