/** heal [--from-repo TWIN] [--from-source]: restore lost blobs from a twin of the family or from the live files. */
import type { Command } from 'commander';
import { checkFamily } from '../../core/copy/plan.js';
import { heal, type HealResult } from '../../core/repair/heal.js';
import type { Repository } from '../../core/repository/repository.js';
import { openRepository, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { addFromRepoOptions, openFromRepo, readFromConfig, type FromRepoFlags } from '../from-repo.js';
import type { Ctx } from '../main.js';
import type { Printer } from '../printer.js';

const MAX_LISTED = 50;

interface HealFlags extends FromRepoFlags {
  fromSource?: boolean;
}

export function registerHeal(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('heal')
    .description('rewrite blobs this repository lost (damaged packs found by check --read-data, or data no index lists) from a twin of the same family, or from the live source files');
  addFromRepoOptions(cmd, 'a twin of the same family (init --copy-secrets-from) to take the lost blobs from')
    .option('--from-source', 'also read the files of the affected snapshots that still exist, and store every chunk whose id matches a lost blob')
    .action(async (f: HealFlags) => {
      const out = ctx.out();
      const g = ctx.g();
      if (!f.fromRepo && !f.fromSource) throw new UsageError('heal needs --from-repo TWIN and/or --from-source', 'flashback -r SICK heal --from-repo HEALTHY');
      const repo = await openRepository(g, out);
      let twin: Repository | undefined;
      if (f.fromRepo) {
        const t = await readFromConfig(f.fromRepo);
        checkFamily(t, repo);
        twin = await openFromRepo(t.backend, f);
      }
      const run = (lock: Parameters<typeof heal>[1]) =>
        heal(repo, lock, { twin, fromSource: !!f.fromSource, signal: ctx.signal, onWarning: (what, msg) => out.warn(`${what}: ${msg}`) });
      const r = await withLock(g, repo, true, out, (lock) => (twin ? withLock(g, twin, false, out, () => run(lock!)) : run(lock!)));
      if (out.json) out.jsonLine(healJson(r, twin));
      else printHeal(out, r, twin);
      for (const n of r.notHealed.slice(0, MAX_LISTED)) {
        process.stderr.write(`error: ${n.type === 1 ? 'tree' : 'data'} blob ${n.blob} not healed: ${n.reason}\n`);
        for (const file of n.files) process.stderr.write(`  ${file}\n`);
      }
      if (r.notHealed.length > MAX_LISTED) process.stderr.write(`... and ${r.notHealed.length - MAX_LISTED} more\n`);
      if (r.notHealed.length) {
        process.stderr.write(`${r.notHealed.length} blob(s) could not be healed\n  hint: try another twin or --from-source; otherwise "flashback repair snapshots" marks the files that cannot be restored\n`);
        ctx.setExit(EXIT.error);
      }
    });
}

function printHeal(out: Printer, r: HealResult, twin: Repository | undefined): void {
  for (const p of r.packs) out.info(`pack ${p.pack}: salvaged ${p.salvaged} intact blob(s), ${p.lost.length} lost; the pack is deleted`);
  const fromTwin = r.healed.filter((h) => h.from === 'twin');
  const fromSource = r.healed.filter((h) => h.from === 'source');
  if (fromTwin.length) out.info(`healed ${fromTwin.length} blob(s) from the twin ${twin?.location ?? ''}`);
  for (const h of fromSource.slice(0, MAX_LISTED)) out.info(`healed blob ${h.blob.slice(0, 12)} from the source file ${h.path}`);
  if (fromSource.length) out.info(`healed ${fromSource.length} blob(s) from the source files`);
  if (r.unreferenced.length) out.info(`${r.unreferenced.length} lost blob(s) that no snapshot references were dropped`);
  if (!r.packs.length && !r.healed.length && !r.notHealed.length) out.info(`nothing to heal: no damaged pack is recorded and every blob the ${r.snapshots} snapshot(s) reference is indexed`);
  else out.info(`healed ${r.healed.length} blob(s), ${r.notHealed.length} not healed; wrote ${r.newPacks} new pack(s)`);
}

function healJson(r: HealResult, twin: Repository | undefined): Record<string, unknown> {
  return {
    message_type: 'summary',
    twin: twin?.location ?? null,
    packs: r.packs,
    healed: r.healed.map((h) => ({ blob: h.blob, type: h.type === 1 ? 'tree' : 'data', from: h.from, path: h.path ?? null })),
    not_healed: r.notHealed.map((n) => ({ blob: n.blob, type: n.type === 1 ? 'tree' : 'data', reason: n.reason, files: n.files })),
    unreferenced_dropped: r.unreferenced,
    healed_from_twin: r.healed.filter((h) => h.from === 'twin').length,
    healed_from_source: r.healed.filter((h) => h.from === 'source').length,
    new_packs: r.newPacks,
    snapshots: r.snapshots,
  };
}
