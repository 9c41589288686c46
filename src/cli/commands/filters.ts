import { resolve } from 'node:path';
import type { SnapshotFilter } from '../../core/repository/snapshots.js';

export interface FilterFlags {
  host: string[];
  path: string[];
  tag: string[];
}

export function snapshotFilterOf(f: Partial<FilterFlags>): SnapshotFilter {
  return { hosts: f.host ?? [], paths: (f.path ?? []).map((p) => resolve(p)), tags: f.tag ?? [] };
}
