/** check [--read-data] [--read-data-subset N%|n/t] */
import type { Command } from 'commander';
import { Checker } from '../../core/checker/checker.js';
import { openRepository, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { createProgress, formatBytes, withProgress } from '../progress.js';
import type { Ctx } from '../main.js';

export function parseSubset(s: string): number {
  let m = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[1]) <= 100) return Number(m[1]) / 100;
  m = /^(\d+)\/(\d+)$/.exec(s);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2])) return 1 / Number(m[2]);
  throw new UsageError(`invalid --read-data-subset "${s}"`, 'use a percentage like 10% or a fraction like 1/5');
}

export function registerCheck(program: Command, ctx: Ctx): void {
  program
    .command('check')
    .description('verify the repository structure; with --read-data also read and verify every byte (scrub)')
    .option('--read-data', 'read all packs and verify every blob')
    .option('--read-data-subset <subset>', 'read a random part of the packs: N% or n/t')
    .action(async (f: { readData?: boolean; readDataSubset?: string }) => {
      const out = ctx.out();
      const subset = f.readDataSubset ? parseSubset(f.readDataSubset) : undefined;
      const repo = await openRepository(ctx.g(), out);
      const checker = new Checker(repo, { readData: !!f.readData || subset !== undefined, subset, signal: ctx.signal });
      const progress = createProgress('check', { stream: process.stderr, quiet: out.quiet, json: out.json });
      const s = checker.state;
      const state = () => ({ files: s.packs, bytes: s.bytes, totalFiles: s.totalPacks || undefined, totalBytes: s.totalBytes || undefined });
      const r = await withLock(ctx.g(), repo, false, out, () => withProgress(progress, state, () => checker.run()));
      if (out.json) {
        out.jsonLine({ message_type: 'summary', num_errors: r.problems.length, problems: r.problems, affected: r.affected, orphan_packs: r.orphanPacks, snapshots: r.snapshots, packs: r.packs, blobs: r.blobs, packs_read: r.packsRead, bytes_read: r.bytesRead });
      } else {
        out.info(`checked ${r.snapshots} snapshots, ${r.packs} packs, ${r.blobs} blobs${r.packsRead ? `; read ${r.packsRead} packs (${formatBytes(r.bytesRead)})` : ''}`);
        if (r.orphanPacks.length) out.info(`${r.orphanPacks.length} pack(s) are not in the index (left by an interrupted backup; the next backup adopts them)`);
        for (const p of r.problems) process.stderr.write(`error: ${p.file}: ${p.message}${p.blobs?.length ? `\n  blobs: ${p.blobs.slice(0, 10).join(', ')}${p.blobs.length > 10 ? ` and ${p.blobs.length - 10} more` : ''}` : ''}\n`);
        const bySnap = new Map<string, Set<string>>();
        for (const a of r.affected) (bySnap.get(a.snapshot) ?? bySnap.set(a.snapshot, new Set()).get(a.snapshot)!).add(a.path);
        for (const [s, paths] of bySnap) {
          process.stderr.write(`snapshot ${s.slice(0, 8)}: ${paths.size} damaged file(s):\n`);
          for (const p of [...paths].slice(0, 20)) process.stderr.write(`  ${p}\n`);
          if (paths.size > 20) process.stderr.write(`  ... and ${paths.size - 20} more\n`);
        }
        if (r.problems.length === 0) out.info('no errors were found');
      }
      if (r.problems.length) {
        process.stderr.write(`${r.problems.length} problem(s) found; the repository is damaged\n  hint: restore what you can from another device, or from other snapshots\n`);
        ctx.setExit(EXIT.error);
      }
    });
}
