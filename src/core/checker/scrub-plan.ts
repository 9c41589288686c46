/**
 * Which packs a scrub reads first, and how much of the repository the scrub records cover (design.md §13).
 * Pure functions over the merged scrub state.
 */
import type { PackVerification } from '../repository/scrub-records.js';
import { compareStrings } from '../util/compare.js';

/**
 * Packs found damaged at their last verification first (damage stays in view), then packs never verified,
 * then the oldest verification first; ties by pack id, so the order is deterministic.
 */
export function scrubOrder(packs: Iterable<string>, state: ReadonlyMap<string, PackVerification>): string[] {
  const rank = (id: string) => {
    const v = state.get(id);
    return v === undefined ? 1 : v.verdict === 'damaged' ? 0 : 2;
  };
  return [...packs].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb) return ra - rb;
    const d = (state.get(a)?.time ?? 0) - (state.get(b)?.time ?? 0);
    if (d !== 0) return d;
    return compareStrings(a, b);
  });
}

export interface Coverage {
  /** packs with a believed verification record */
  packs: number;
  totalPacks: number;
  bytes: number;
  totalBytes: number;
  /** oldest verification among the verified packs (ms since 1970) */
  oldest?: number;
  neverVerified: number;
  /** packs whose last verification found damage */
  damaged: number;
}

/** Coverage of `packs` (id → size on the device) by the scrub state. */
export function coverage(packs: Iterable<[string, number]>, state: ReadonlyMap<string, PackVerification>): Coverage {
  const c: Coverage = { packs: 0, totalPacks: 0, bytes: 0, totalBytes: 0, neverVerified: 0, damaged: 0 };
  for (const [id, size] of packs) {
    c.totalPacks++;
    c.totalBytes += size;
    const v = state.get(id);
    if (!v) {
      c.neverVerified++;
      continue;
    }
    c.packs++;
    c.bytes += size;
    if (v.verdict === 'damaged') c.damaged++;
    if (c.oldest === undefined || v.time < c.oldest) c.oldest = v.time;
  }
  return c;
}
