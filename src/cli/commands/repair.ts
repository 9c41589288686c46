/** repair index | packs [PACK...] | snapshots [SNAPSHOT...] */
import type { Command } from 'commander';
import { repairIndex } from '../../core/repair/repair-index.js';
import { damagedPacks, repairPacks } from '../../core/repair/repair-packs.js';
import { repairSnapshots } from '../../core/repair/repair-snapshots.js';
import { resolveSnapshot } from '../../core/repository/snapshots.js';
import { openRepository, withLock } from '../context.js';
import { EXIT } from '../exit.js';
import type { Ctx } from '../main.js';

const MAX_LISTED = 50;

export function registerRepair(program: Command, ctx: Ctx): void {
  const repair = program.command('repair').description('repair a damaged repository: index, packs, snapshots');

  repair
    .command('index')
    .description('rebuild the index from the packs (after an index file was lost or damaged)')
    .option('--read-all-packs', 'read the header of every pack, not only of those no intact index file lists')
    .action(async (f: { readAllPacks?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const r = await withLock(ctx.g(), repo, true, out, (lock) => repairIndex(repo, lock!, { readAll: !!f.readAllPacks, signal: ctx.signal }));
      if (out.json) {
        out.jsonLine({ message_type: 'summary', packs: r.packs, blobs: r.blobs, headers_read: r.headersRead, damaged_index_files: r.damagedIndexFiles, missing_packs: r.missingPacks, unreadable_packs: r.unreadablePacks, index_files_written: r.indexFilesWritten, index_files_removed: r.indexFilesRemoved });
      } else {
        for (const f of r.damagedIndexFiles) out.info(`replaced damaged ${f}`);
        out.info(`read the headers of ${r.headersRead} pack(s); indexed ${r.blobs} blobs in ${r.packs} pack(s); ${r.indexFilesRemoved} index file(s) replaced by ${r.indexFilesWritten}`);
      }
      for (const p of r.missingPacks) process.stderr.write(`error: pack ${p} is listed by the old index but missing from the device: its blobs are lost\n`);
      for (const p of r.unreadablePacks) process.stderr.write(`error: pack ${p.pack}: ${p.message}: its blobs are not indexed\n`);
      if (r.missingPacks.length || r.unreadablePacks.length) {
        process.stderr.write('  hint: run "flashback check" to see which snapshots are affected, then "flashback repair snapshots"\n');
        ctx.setExit(EXIT.error);
      }
    });

  repair
    .command('packs')
    .argument('[pack...]', 'pack ids (default: the packs check --read-data found damaged)')
    .description('salvage the intact blobs of damaged packs into new packs and delete the damaged packs')
    .action(async (ids: string[]) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await withLock(ctx.g(), repo, true, out, async (lock) => {
        const packs = ids.length ? ids : await damagedPacks(repo);
        if (packs.length === 0) {
          out.info('no damaged packs are known: run "flashback check --read-data" to find damage');
          return;
        }
        const r = await repairPacks(repo, lock!, packs, ctx.signal);
        const lost = r.packs.reduce((n, p) => n + p.lost.length, 0);
        if (out.json) out.jsonLine({ message_type: 'summary', packs: r.packs, new_packs: r.newPacks, lost_blobs: lost });
        else {
          for (const p of r.packs) out.info(`pack ${p.pack}: salvaged ${p.salvaged} blob(s), lost ${p.lost.length}`);
          out.info(`wrote ${r.newPacks} new pack(s); the damaged pack(s) were deleted`);
        }
        if (lost) {
          process.stderr.write(`${lost} blob(s) are lost. The next backup stores them again from any source file that still has them;\n  hint: run "flashback repair snapshots" to mark the files of older snapshots that cannot be restored\n`);
          ctx.setExit(EXIT.error);
        }
      });
    });

  repair
    .command('snapshots')
    .argument('[snapshot...]', 'snapshots to repair (default: all)')
    .description('rewrite snapshots with lost data: such files are marked (or dropped), everything else stays restorable')
    .option('--drop', 'remove files with lost data from the repaired snapshots instead of marking them')
    .option('--forget', 'remove the original snapshots once repaired copies are saved')
    .option('-n, --dry-run', 'show what would be marked, change nothing')
    .action(async (refs: string[], f: { drop?: boolean; forget?: boolean; dryRun?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await withLock(ctx.g(), repo, !f.dryRun, out, async () => {
        const all = await repo.snapshots.list((file, err) => out.warn(`${file}: ${err.message} (cannot be repaired: remove it with "flashback forget")`));
        const chosen = refs.length ? refs.map((r) => resolveSnapshot(all, r)) : all;
        const r = await repairSnapshots(repo, chosen, { drop: f.drop, forget: f.forget, dryRun: f.dryRun, signal: ctx.signal });
        if (out.json) out.jsonLine({ message_type: 'summary', dry_run: !!f.dryRun, repaired: r.map((x) => ({ snapshot: x.id, new_snapshot: x.newId ?? null, files: x.files, dirs: x.dirs })) });
        else {
          for (const x of r) {
            out.info(`snapshot ${x.id.slice(0, 8)}: ${x.files.length} file(s) with lost data ${f.drop ? 'dropped' : 'marked'}${x.dirs.length ? `, ${x.dirs.length} directory(ies) lost` : ''}${x.newId ? ` -> saved as ${x.newId.slice(0, 8)}` : f.dryRun ? ' (dry run)' : ''}`);
            for (const p of x.files.slice(0, MAX_LISTED)) out.info(`  ${p}`);
            for (const d of x.dirs.slice(0, MAX_LISTED)) out.info(`  ${d}/ (contents lost)`);
            if (x.files.length + x.dirs.length > 2 * MAX_LISTED) out.info('  ...');
          }
          out.info(r.length ? `${r.length} snapshot(s) ${f.dryRun ? 'would be' : 'were'} repaired${f.forget && !f.dryRun ? '; the originals were removed' : ''}` : `all ${chosen.length} snapshot(s) are intact`);
        }
      });
    });
}
