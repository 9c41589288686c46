/** restore SNAPSHOT[:PATH] --target DIR */
import type { Command } from 'commander';
import type { SnapshotSummary } from '../../core/model/snapshot.js';
import { Restorer } from '../../core/restorer/restorer.js';
import { Excluder } from '../../core/source/exclude.js';
import { openRepository, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { createProgress, formatBytes, formatDuration, withProgress } from '../progress.js';
import { collect, type Ctx } from '../main.js';
import { snapshotFilterOf, type FilterFlags } from './filters.js';

interface RestoreFlags extends FilterFlags {
  target?: string;
  include: string[];
  exclude: string[];
  verify?: boolean;
  sparse: boolean;
  owner?: boolean;
}

export function splitSnapshotArg(arg: string): { ref: string; path?: string } {
  const i = arg.indexOf(':');
  return i < 0 ? { ref: arg } : { ref: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
}

/** The totals of a whole, unfiltered snapshot, from its summary (files that had errors are not in it either). */
function wholeSnapshot(s: SnapshotSummary | undefined, path: string | undefined, f: RestoreFlags): { files: number; bytes: number } | undefined {
  if (!s || (path && path !== '/') || f.include.length || f.exclude.length) return undefined;
  return { files: s.files_new + s.files_changed + s.files_unmodified, bytes: s.total_bytes_processed };
}

export function registerRestore(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('restore')
    .description('restore a snapshot, or a path inside it (SNAPSHOT:PATH), into a target directory')
    .argument('<snapshot>', 'snapshot id prefix, "latest", or "latest~1" for the one before; optionally :PATH')
    .option('-t, --target <dir>', 'directory to restore into (created if missing)')
    .option('-i, --include <pattern>', 'restore only matching paths (gitignore syntax; repeatable)', collect, [])
    .option('-e, --exclude <pattern>', 'do not restore matching paths (repeatable)', collect, [])
    .option('--verify', 'read every restored file back and check it against the repository')
    .option('--no-sparse', 'write zero blocks instead of leaving holes')
    .option('--no-owner', 'do not restore owners even when running as root');
  cmd.option('--host <host>', 'with "latest": only snapshots of this host', collect, []);
  cmd.option('--path <path>', 'with "latest": only snapshots of this path', collect, []);
  cmd.option('--tag <tag>', 'with "latest": only snapshots with this tag', collect, []);
  cmd.action(async (arg: string, f: RestoreFlags) => {
    const out = ctx.out();
    if (!f.target) throw new UsageError('no target directory given', 'pass --target DIR');
    const { ref, path } = splitSnapshotArg(arg);
    const repo = await openRepository(ctx.g(), out);
    const sn = await repo.snapshots.resolve(ref, snapshotFilterOf(f));
    const restorer = new Restorer(repo, sn.snapshot.tree, {
      target: f.target,
      subpath: path,
      include: f.include.length ? new Excluder(f.include) : undefined,
      exclude: f.exclude.length ? new Excluder(f.exclude) : undefined,
      verify: !!f.verify,
      // a progress fraction needs the totals first (quiet and --json show no progress); restoring a whole
      // snapshot, its summary has them, otherwise they are counted
      count: !out.quiet && !out.json,
      expected: wholeSnapshot(sn.snapshot.summary, path, f),
      sparse: f.sparse,
      owner: f.owner === false ? false : undefined,
      signal: ctx.signal,
      warn: (w) => progress.log(out.json ? JSON.stringify({ message_type: 'error', item: w.path, error: { message: w.message } }) : `warning: ${w.path}: ${w.message}`),
    });
    out.info(`restoring snapshot ${sn.id.slice(0, 8)} of ${sn.snapshot.paths.join(', ')} at ${sn.snapshot.time}${path ? ` (path ${path})` : ''} to ${f.target}`);
    const progress = createProgress('restore', { stream: process.stderr, quiet: out.quiet, json: out.json });
    const started = Date.now();
    const st = await withLock(ctx.g(), repo, false, out, () => withProgress(progress, () => ({ ...restorer.state }), () => restorer.run()));
    const seconds = (Date.now() - started) / 1000;
    if (out.json) {
      out.jsonLine({ message_type: 'summary', snapshot_id: sn.id, files_restored: st.files - st.skipped, files_skipped: st.skipped, total_files: st.totalFiles, bytes_restored: st.bytes, total_bytes: st.totalBytes, errors: st.errors, seconds });
    } else {
      out.info(`restored ${st.files - st.skipped} files (${formatBytes(st.bytes)}) in ${formatDuration(seconds)}${st.skipped ? `; ${st.skipped} identical files already there were skipped` : ''}${f.verify ? '; verified' : ''}`);
    }
    if (st.errors) {
      process.stderr.write(`error: ${st.errors} problem(s) during restore; see the warnings above\n`);
      ctx.setExit(EXIT.error);
    }
  });
}
