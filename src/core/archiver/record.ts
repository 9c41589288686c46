/** The snapshot record a finished backup saves (design.md §11): what was backed up, by whom, and its summary. */
import { userInfo } from 'node:os';
import type { Snapshot, SnapshotSummary } from '../model/snapshot.js';
import { VERSION } from '../version.js';

export interface RecordFields {
  start: Date;
  tree: string;
  paths: string[];
  host: string;
  tags: string[];
  parent?: string;
  excludes: string[];
  /** the summary without its times: backup_start is `start`, backup_end is now */
  summary: Omit<SnapshotSummary, 'backup_start' | 'backup_end'>;
}

export function snapshotRecord(f: RecordFields): Snapshot {
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    /* no passwd entry for this uid: recorded as '' */
  }
  return {
    version: 1,
    time: f.start.toISOString(),
    tree: f.tree,
    paths: f.paths,
    hostname: f.host,
    username,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    tags: f.tags,
    ...(f.parent ? { parent: f.parent } : {}),
    excludes: f.excludes,
    program_version: `flashback ${VERSION}`,
    summary: { ...f.summary, backup_start: f.start.toISOString(), backup_end: new Date().toISOString() },
  };
}
