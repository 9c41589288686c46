/** Snapshot records (design.md §11). */
export interface SnapshotSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  data_added_packed: number;
  total_files_processed: number;
  total_bytes_processed: number;
  errors: number;
  backup_start: string;
  backup_end: string;
}

export interface Snapshot {
  version: number;
  time: string;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  uid: number;
  gid: number;
  tags: string[];
  parent?: string;
  /** set by repair snapshots: the snapshot this one is a repaired copy of */
  original?: string;
  excludes: string[];
  program_version: string;
  summary?: SnapshotSummary;
}

export interface SnapshotRef {
  id: string;
  snapshot: Snapshot;
}

export function validateSnapshot(s: Snapshot): boolean {
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.time === 'string' &&
    !Number.isNaN(Date.parse(s.time)) &&
    typeof s.tree === 'string' &&
    /^[0-9a-f]{64}$/.test(s.tree) &&
    Array.isArray(s.paths) &&
    Array.isArray(s.tags)
  );
}
