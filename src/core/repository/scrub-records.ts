/**
 * Scrub records (design.md §13): `scrub/<sha256>` = sealFile(encKey, "flashback scrub v1", JSON), one small
 * append-only record per `check --read-data` run, merged in memory (newest verification of a pack wins) and
 * consolidated into one record when more than CONSOLIDATE_ABOVE exist. A record that cannot be authenticated
 * or parsed is ignored, and so is an entry dated in the future: tampering can only cause more verification.
 */
import { hostname } from 'node:os';
import { sha256 } from '../crypto/crypto.js';
import type { RepoKeys } from '../crypto/crypto.js';
import type { Backend } from '../backend/backend.js';
import { errorMessage } from '../errors/errors.js';
import { openFile, sealFile } from '../pack/format.js';

const SCRUB_AAD = Buffer.from('flashback scrub v1');
const HEX64 = /^[0-9a-f]{64}$/;
/** an entry dated later than now + this is not believed (clock skew between hosts) */
export const CLOCK_SKEW_MS = 60 * 60 * 1000;
/** more record files than this are merged into one */
export const CONSOLIDATE_ABOVE = 16;

export type Verdict = 'ok' | 'damaged';

export interface PackVerification {
  /** milliseconds since 1970 when the verification finished */
  time: number;
  verdict: Verdict;
  /** damaged blob ids (hex), when the verdict is damaged and blobs could be named */
  blobs?: string[];
}

export interface ScrubWarning {
  file: string;
  message: string;
}

export interface ScrubState {
  /** merged state of every pack named by a readable record */
  packs: Map<string, PackVerification>;
  /** readable record files */
  records: string[];
  /** record files that were ignored (unreadable, unauthenticated, unknown version) */
  ignored: string[];
  warnings: ScrubWarning[];
}

/** What a scrub record store needs from the repository: its files and its key. */
export interface ScrubStore {
  readonly backend: Backend;
  readonly keys: Pick<RepoKeys, 'encKey'>;
}

type Entry = [string, string, Verdict] | [string, string, Verdict, string[]];

interface RecordJson {
  version: 1;
  time: string;
  hostname: string;
  packs: Entry[];
}

/** Merges `v` into the state of `packId`: the newer verification wins; on equal times damage wins. */
export function mergeVerification(packs: Map<string, PackVerification>, packId: string, v: PackVerification): void {
  const old = packs.get(packId);
  if (!old || v.time > old.time || (v.time === old.time && v.verdict === 'damaged' && old.verdict === 'ok')) packs.set(packId, v);
}

function parseRecord(body: Buffer): RecordJson {
  const j = JSON.parse(body.toString('utf8')) as RecordJson;
  if (typeof j !== 'object' || j === null || j.version !== 1) throw new Error(`unsupported scrub record version ${JSON.stringify((j as { version?: unknown })?.version)}`);
  if (typeof j.time !== 'string' || !Array.isArray(j.packs)) throw new Error('not a scrub record');
  for (const e of j.packs) {
    const ok =
      Array.isArray(e) &&
      (e.length === 3 || e.length === 4) &&
      typeof e[0] === 'string' && HEX64.test(e[0]) &&
      typeof e[1] === 'string' && Number.isFinite(Date.parse(e[1])) &&
      (e[2] === 'ok' || e[2] === 'damaged') &&
      (e.length === 3 || (Array.isArray(e[3]) && e[3].every((b) => typeof b === 'string' && HEX64.test(b))));
    if (!ok) throw new Error('invalid pack entry');
  }
  return j;
}

/** Reads and merges every record. Never throws for a bad record: it is ignored and reported in `warnings`. */
export async function loadScrubState(store: ScrubStore, now: number): Promise<ScrubState> {
  const state: ScrubState = { packs: new Map(), records: [], ignored: [], warnings: [] };
  for await (const name of store.backend.listNames('scrub')) {
    const file = `scrub/${name}`;
    let rec: RecordJson;
    try {
      const bytes = await store.backend.load('scrub', name);
      if (sha256(bytes).toString('hex') !== name) throw new Error('content does not match its name (damaged or tampered with)');
      rec = parseRecord(openFile(store.keys.encKey, SCRUB_AAD, bytes, file));
    } catch (err) {
      state.ignored.push(name);
      state.warnings.push({ file, message: `${errorMessage(err)}; ignored: its packs count as never verified` });
      continue;
    }
    state.records.push(name);
    let future = 0;
    for (const [packId, at, verdict, blobs] of rec.packs) {
      const time = Date.parse(at);
      if (time > now + CLOCK_SKEW_MS) {
        future++;
        continue;
      }
      mergeVerification(state.packs, packId, verdict === 'damaged' ? { time, verdict, blobs: blobs ?? [] } : { time, verdict });
    }
    if (future) {
      state.warnings.push({ file, message: `${future} pack verification(s) dated in the future (clock wrong, or the record is from a host with a wrong clock); those packs count as never verified` });
    }
  }
  return state;
}

/** Writes one record naming `packs`; returns its file name. */
export async function saveScrubRecord(store: ScrubStore, packs: Map<string, PackVerification>, now: number): Promise<string> {
  const entries: Entry[] = [];
  for (const [id, v] of [...packs].sort((a, b) => a[1].time - b[1].time || (a[0] < b[0] ? -1 : 1))) {
    const at = new Date(v.time).toISOString();
    entries.push(v.verdict === 'damaged' ? [id, at, v.verdict, v.blobs ?? []] : [id, at, v.verdict]);
  }
  const rec: RecordJson = { version: 1, time: new Date(now).toISOString(), hostname: hostname(), packs: entries };
  const sealed = sealFile(store.keys.encKey, SCRUB_AAD, Buffer.from(JSON.stringify(rec)), 3);
  const name = sha256(sealed).toString('hex');
  await store.backend.save('scrub', name, sealed);
  return name;
}

/**
 * Consolidation: writes one record holding `packs` (only those `keep` accepts: packs that still exist), then
 * deletes `merged` (the records it replaces, readable or not). A crash in between leaves duplicates, which
 * merge to the same state.
 */
export async function consolidateScrubRecords(
  store: ScrubStore,
  packs: Map<string, PackVerification>,
  merged: Iterable<string>,
  keep: (packId: string) => boolean,
  now: number,
): Promise<{ record: string; removed: number; dropped: number }> {
  const kept = new Map<string, PackVerification>();
  let dropped = 0;
  for (const [id, v] of packs) {
    if (keep(id)) kept.set(id, v);
    else dropped++;
  }
  const record = await saveScrubRecord(store, kept, now);
  let removed = 0;
  for (const name of merged) {
    if (name === record) continue; // the same content written again (nothing changed)
    await store.backend.remove('scrub', name);
    removed++;
  }
  return { record, removed, dropped };
}
