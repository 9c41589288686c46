/**
 * What is known about each device (docs/rotation.md §2): the same facts in the host state file
 * (state.json, keyed by repository id) and in the device note on the device itself. Merging takes, field by
 * field, the newer record's values (by `time`), and the later of the two last backups.
 */
import { promises as fsp } from 'node:fs';
import { errorMessage, isErrno } from '../errors/errors.js';
import { writeFileAtomic } from './files.js';

export interface ScrubFacts {
  packs: number;
  total_packs: number;
  bytes: number;
  total_bytes: number;
  /** oldest verification (ISO), if any pack was verified */
  oldest: string | null;
  never_verified: number;
  damaged: number;
}

export interface ErrorFacts {
  time: string;
  step: string;
  code: string;
  message: string;
  hint?: string;
}

export interface DeviceFacts {
  /** when these facts were recorded (ISO) */
  time: string;
  hostname: string;
  last_backup?: string;
  last_snapshot?: string;
  snapshots?: number;
  used_bytes?: number;
  free_bytes?: number;
  scrub?: ScrubFacts;
  /** null: the last run succeeded */
  last_error?: ErrorFacts | null;
}

export interface HostEntry extends DeviceFacts {
  /** host only: where the device was last found, and when */
  last_seen_path?: string;
  last_seen?: string;
}

export interface HostState {
  version: 1;
  devices: Record<string, HostEntry>;
}

const FACT_KEYS = ['hostname', 'snapshots', 'used_bytes', 'free_bytes', 'scrub', 'last_error'] as const;

/** Field-wise merge: the newer record's defined fields win; the later last backup wins. */
export function mergeFacts<T extends DeviceFacts>(base: T | undefined, other: DeviceFacts | undefined): T | undefined {
  if (!other) return base;
  if (!base) return { ...(other as T) };
  const newer = Date.parse(other.time) > Date.parse(base.time);
  const out: T = { ...base };
  if (newer) {
    out.time = other.time;
    for (const k of FACT_KEYS) if (other[k] !== undefined) (out as DeviceFacts)[k] = other[k] as never;
  }
  if (other.last_backup && (!base.last_backup || Date.parse(other.last_backup) > Date.parse(base.last_backup))) {
    out.last_backup = other.last_backup;
    out.last_snapshot = other.last_snapshot;
  }
  return out;
}

export function emptyState(): HostState {
  return { version: 1, devices: {} };
}

function valid(s: unknown): s is HostState {
  const o = s as HostState;
  return typeof o === 'object' && o !== null && o.version === 1 && typeof o.devices === 'object' && o.devices !== null && !Array.isArray(o.devices);
}

/** The host state file. Every update re-reads it and changes one device's entry only. */
export class StateStore {
  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  async load(): Promise<HostState> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return emptyState();
      this.warn(`cannot read the state file ${this.file}: ${errorMessage(err)}; going on without it`);
      return emptyState();
    }
    try {
      const s: unknown = JSON.parse(text);
      if (valid(s)) return s;
      throw new Error('not a flashback state file (version 1)');
    } catch (err) {
      const bad = `${this.file}.bad`;
      await fsp.rename(this.file, bad).catch(() => undefined);
      this.warn(`the state file ${this.file} is damaged (${errorMessage(err)}); moved it to ${bad} and starting afresh (the devices' notes fill it in again)`);
      return emptyState();
    }
  }

  /** Applies `fn` to the entry of device `id` (undefined: none yet) and saves; returns the new entry. */
  async update(id: string, fn: (e: HostEntry | undefined) => HostEntry | undefined): Promise<HostEntry | undefined> {
    const s = await this.load();
    const e = fn(s.devices[id]);
    if (e === undefined) delete s.devices[id];
    else s.devices[id] = e;
    await writeFileAtomic(this.file, JSON.stringify(s, null, 2) + '\n');
    return e;
  }
}
