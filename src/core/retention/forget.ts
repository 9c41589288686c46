/**
 * Forget: divide snapshots into groups, apply a retention policy to each group (or take an explicit list),
 * then remove exactly the snapshot files the plan lists. Forget never touches data; prune does that.
 * Planning is pure (the same plan serves --dry-run, --json and the real run); only executeForget does I/O.
 */
import { FlashbackError } from '../errors/errors.js';
import type { SnapshotRef } from '../model/snapshot.js';
import { applyPolicy, newestFirst, type PolicyResult, type RetentionContext, type RetentionPolicy } from './policy.js';

export type GroupField = 'host' | 'paths' | 'tags';
export const DEFAULT_GROUP_BY: readonly GroupField[] = ['host', 'paths'];

/** the fields a group shares; only the fields grouped by are present */
export interface GroupKey {
  host?: string;
  paths?: string[];
  tags?: string[];
}

export interface ForgetGroup extends PolicyResult {
  key: GroupKey;
}

export interface ForgetPlan {
  groups: ForgetGroup[];
  /** ids of the snapshot files to remove, each once */
  remove: string[];
}

/** "host,paths" → ['host', 'paths']; "" → [] (one group for all snapshots) */
export function parseGroupBy(s: string): GroupField[] {
  const out: GroupField[] = [];
  for (const f of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (f !== 'host' && f !== 'paths' && f !== 'tags') {
      throw new FlashbackError('ERR_USAGE', `cannot group by "${f}"`, { hint: 'use a comma-separated list of host, paths, tags, or "" for no grouping' });
    }
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

export function groupSnapshots(list: SnapshotRef[], groupBy: readonly GroupField[]): { key: GroupKey; list: SnapshotRef[] }[] {
  const groups = new Map<string, { key: GroupKey; list: SnapshotRef[] }>();
  for (const r of list) {
    const key: GroupKey = {};
    if (groupBy.includes('host')) key.host = r.snapshot.hostname;
    if (groupBy.includes('paths')) key.paths = [...r.snapshot.paths].sort();
    if (groupBy.includes('tags')) key.tags = [...new Set(r.snapshot.tags)].sort();
    const k = JSON.stringify([key.host ?? null, key.paths ?? null, key.tags ?? null]);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, list: [] }));
    g.list.push(r);
  }
  return [...groups.values()].sort((a, b) => compareLists([a.key.host ?? ''], [b.key.host ?? '']) || compareLists(a.key.paths ?? [], b.key.paths ?? []) || compareLists(a.key.tags ?? [], b.key.tags ?? []));
}

/** element by element; a list sorts before its extensions (["/x"] before ["/x", "/y"]) */
function compareLists(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/** Groups the snapshots and applies the policy to each group. */
export function planForget(list: SnapshotRef[], policy: RetentionPolicy, ctx: RetentionContext & { groupBy: readonly GroupField[] }): ForgetPlan {
  const groups = groupSnapshots(list, ctx.groupBy).map(({ key, list }) => ({ key, ...applyPolicy(list, policy, ctx) }));
  return { groups, remove: [...new Set(groups.flatMap((g) => g.remove.map((r) => r.id)))] };
}

/** Explicitly named snapshots: one ungrouped group that removes them all. */
export function planForgetIds(targets: SnapshotRef[]): ForgetPlan {
  const remove = [...new Map(targets.map((r) => [r.id, r])).values()].sort(newestFirst);
  return { groups: remove.length ? [{ key: {}, keep: [], remove, reasons: [] }] : [], remove: remove.map((r) => r.id) };
}

/** groups in which the plan would remove every snapshot (refused unless forced) */
export function groupsKeepingNothing(plan: ForgetPlan): ForgetGroup[] {
  return plan.groups.filter((g) => g.keep.length === 0 && g.remove.length > 0);
}

/** the one capability forget needs from the repository */
export interface SnapshotRemover {
  remove(id: string): Promise<void>;
}

/**
 * Removes the plan's snapshot files one by one (bounded: no fan-out), checking the signal between removals.
 * Returns how many were removed. Nothing outside plan.remove is touched.
 */
export async function executeForget(
  store: SnapshotRemover,
  plan: ForgetPlan,
  opts: { signal?: AbortSignal; onRemoved?: (id: string) => void } = {},
): Promise<number> {
  let n = 0;
  for (const id of plan.remove) {
    if (opts.signal?.aborted) {
      throw new FlashbackError('ERR_INTERRUPTED', `forget interrupted after removing ${n} of ${plan.remove.length} snapshots`, {
        hint: 'run the same forget again to finish',
      });
    }
    await store.remove(id);
    n++;
    opts.onRemoved?.(id);
  }
  return n;
}
