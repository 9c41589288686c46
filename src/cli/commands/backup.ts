/** backup PATH... */
import type { Command } from 'commander';
import { Archiver } from '../../core/archiver/archiver.js';
import { Excluder, readExcludeFile } from '../../core/source/exclude.js';
import { openRepository, withLock } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { createProgress, formatBytes, formatDuration, withProgress } from '../progress.js';
import { collect, type Ctx } from '../main.js';

interface BackupFlags {
  cache?: boolean;
  exclude: string[];
  excludeFile: string[];
  followSymlinks?: boolean;
  oneFileSystem?: boolean;
  excludeCaches?: boolean;
  tag: string[];
  host?: string;
  parent?: string;
  force?: boolean;
  time?: string;
}

export function registerBackup(program: Command, ctx: Ctx): void {
  program
    .command('backup')
    .description('save a new snapshot of the given files and directories')
    .argument('<path...>', 'files and directories to back up')
    .option('-e, --exclude <pattern>', 'exclude a pattern (gitignore syntax; repeatable)', collect, [])
    .option('--exclude-file <file>', 'read exclude patterns from a file (repeatable)', collect, [])
    .option('-L, --follow-symlinks', 'back up what symlinks point to (loops are detected and stored as links)')
    .option('-x, --one-file-system', 'do not cross file system boundaries')
    .option('--exclude-caches', 'skip the contents of directories holding a CACHEDIR.TAG')
    .option('--tag <tag>', 'add a tag to the snapshot (repeatable, or comma separated)', collect, [])
    .option('--host <name>', 'host name to record (default: this host)')
    .option('--parent <snapshot>', 'snapshot to compare with to skip unchanged files (default: the latest of the same host and paths)')
    .option('--force', 'read every file, ignoring the parent snapshot')
    .option('--no-cache', 'do not use the directory cache on this host (FLASHBACK_CACHE_DIR, default ~/.cache/flashback)')
    .option('--time <time>', 'time to record in the snapshot: ISO 8601, or "YYYY-MM-DD HH:MM:SS" in local time (default: now)')
    .action(async (paths: string[], f: BackupFlags) => {
      const out = ctx.out();
      const patterns = [...f.excludeFile.flatMap((p) => readExcludeFile(p)), ...f.exclude];
      if (f.force && f.parent) throw new UsageError('--force and --parent exclude each other');
      const time = f.time === undefined ? undefined : parseTime(f.time);
      const repo = await openRepository(ctx.g(), out);
      const archiver = new Archiver(repo, {
        paths,
        excluder: patterns.length ? new Excluder(patterns) : undefined,
        followSymlinks: !!f.followSymlinks,
        oneFileSystem: !!f.oneFileSystem,
        excludeCaches: !!f.excludeCaches,
        tags: f.tag.flatMap((t) => t.split(',')).filter(Boolean),
        host: f.host,
        parent: f.force ? null : f.parent,
        cacheDir: f.cache === false || f.force ? undefined : cacheDir(process.env),
        time,
        signal: ctx.signal,
        scan: !out.quiet && !out.json && !!process.stderr.isTTY,
        warn: (w) => {
          progress.log(out.json ? JSON.stringify({ message_type: 'error', during: 'archival', item: w.path, error: { message: w.message } }) : `warning: ${w.path}: ${w.message}`);
        },
      });
      const progress = createProgress('backup', { stream: process.stderr, quiet: out.quiet, json: out.json });
      const started = Date.now();
      const result = await withLock(ctx.g(), repo, false, out, () => withProgress(progress, () => archiver.state, () => archiver.run()));
      const s = result.summary;
      const seconds = (Date.now() - started) / 1000;
      if (out.json) {
        out.jsonLine({ message_type: 'summary', ...s, total_duration: seconds, snapshot_id: result.id, parent: result.parent, dirs_from_cache: result.cachedDirs });
      } else if (!out.quiet) {
        if (result.parent) out.line(`using parent snapshot ${result.parent.slice(0, 8)}${result.cachedDirs ? ` (${result.cachedDirs} unchanged directories known from this host's cache)` : ''}`);
        out.line(`Files:       ${pad(s.files_new)} new, ${pad(s.files_changed)} changed, ${pad(s.files_unmodified)} unmodified`);
        out.line(`Dirs:        ${pad(s.dirs_new)} new, ${pad(s.dirs_changed)} changed, ${pad(s.dirs_unmodified)} unmodified`);
        out.line(`Added to the repository: ${formatBytes(s.data_added)} (${formatBytes(s.data_added_packed)} stored)`);
        out.line(`processed ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${formatDuration(seconds)}`);
        out.line(`snapshot ${result.id.slice(0, 8)} saved`);
      }
      if (s.errors > 0) {
        process.stderr.write(`warning: ${s.errors} file(s) could not be read; the snapshot was saved without them\n`);
        ctx.setExit(EXIT.partial);
      }
    });
}

/** ISO 8601 (with Z or an offset for UTC-based times), or "YYYY-MM-DD[ HH:MM[:SS]]" read in local time, as restic */
export function parseTime(s: string): Date {
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  const d = local ? new Date(+local[1], +local[2] - 1, +local[3], +(local[4] ?? 0), +(local[5] ?? 0), +(local[6] ?? 0)) : new Date(s);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(d.getTime())) {
    throw new UsageError(`invalid time "${s}"`, 'use ISO 8601 such as 2024-03-31T10:00:00Z, or "2024-03-31 10:00:00" for local time');
  }
  return d;
}

function pad(n: number): string {
  return String(n).padStart(6);
}

/** Where the host-side caches live: FLASHBACK_CACHE_DIR, or $XDG_CACHE_HOME/flashback, or ~/.cache/flashback. */
export function cacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.FLASHBACK_CACHE_DIR) return env.FLASHBACK_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (env.HOME ? `${env.HOME}/.cache` : undefined);
  return base ? `${base}/flashback` : undefined;
}
