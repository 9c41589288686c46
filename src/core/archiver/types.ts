/** The archiver's options, progress state and result (archiver.ts). */
import type { Snapshot, SnapshotSummary } from '../model/snapshot.js';
import type { Excluder } from '../source/exclude.js';

export interface BackupOptions {
  paths: string[];
  excluder?: Excluder;
  followSymlinks?: boolean;
  oneFileSystem?: boolean;
  excludeCaches?: boolean;
  tags?: string[];
  host?: string;
  /** snapshot id of the parent; undefined: the latest snapshot of the same host and paths; null: none */
  parent?: string | null;
  time?: Date;
  signal?: AbortSignal;
  threads?: number;
  warn?: (w: BackupWarning) => void;
  /**
   * directory of the host-side directory caches (dircache.ts): the file for this repository, host and paths is
   * read to skip unchanged directories and rewritten after the snapshot is saved; undefined: no cache
   */
  cacheDir?: string;
  /** count files and bytes ahead of the walk (in a worker) so that progress can show a percentage and ETA */
  scan?: boolean;
}

export interface BackupWarning {
  path: string;
  kind: 'unreadable' | 'changed' | 'symlink' | 'skipped';
  message: string;
}

export interface BackupState {
  files: number;
  dirs: number;
  bytes: number;
  errors: number;
  current: string;
  /** from the scan, once it has finished */
  totalFiles?: number;
  totalBytes?: number;
}

export interface BackupResult {
  id: string;
  snapshot: Snapshot;
  summary: SnapshotSummary;
  parent?: string;
  /** directories taken whole from the host's directory cache */
  cachedDirs: number;
}
