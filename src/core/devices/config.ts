/**
 * The configuration file (docs/rotation.md §1): TOML parsed with smol-toml, validated key by key (an unknown
 * key is an error: a typo must not silently disable a setting), defaults filled in. Pure: the text and its
 * file name come in, a typed configuration goes out; errors name file:line:column.
 */
import { parse, TomlError } from 'smol-toml';
import { FlashbackError } from '../errors/errors.js';
import { parseDuration as parseRetentionDuration } from '../retention/duration.js';
import type { RetentionPolicy } from '../retention/policy.js';
import { isDeviceName } from './names.js';
import { parseInterval, parseMaxUnusedValue, parseSizeValue } from './interval.js';

export interface DeviceEntry {
  name: string;
  id: string;
  family: string;
  /** where it was added: one more place discovery looks */
  path?: string;
  /** milliseconds; undefined: [defaults] refresh */
  refresh?: number;
  passwordCommand?: string;
  passwordFile?: string;
}

export interface FlashbackConfig {
  backup: {
    paths: string[];
    exclude: string[];
    excludeFile: string[];
    excludeCaches: boolean;
    followSymlinks: boolean;
    oneFileSystem: boolean;
    host?: string;
  };
  retention: RetentionPolicy;
  prune: { maxUnused: string; maxRepackSize?: string };
  /** milliseconds of scrub per run; 0 skips the scrub */
  scrub: { maxDuration: number };
  password: { command?: string; file?: string };
  discovery: { roots: string[] };
  defaults: { refresh: number };
  devices: DeviceEntry[];
}

export const DEFAULT_ROOTS = ['/media/$USER/*', '/run/media/$USER/*', '/mnt/*'];
export const DEFAULT_REFRESH = 7 * 86_400_000;
export const DEFAULT_SCRUB = 10 * 60_000;

type Table = Record<string, unknown>;

class Reader {
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  fail(section: string, key: string | undefined, message: string, hint?: string): never {
    const at = locate(this.text, section, key);
    throw new FlashbackError('ERR_INVALID', `${this.file}:${at.line}:${at.column}: ${message}`, {
      hint: hint ?? 'fix the configuration file (see docs/rotation.md; "flashback config" shows what is in effect)',
    });
  }

  table(root: Table, section: string, keys: string[], where = section): Table {
    const v = root[section] ?? {};
    if (typeof v !== 'object' || Array.isArray(v) || v === null || v instanceof Date) this.fail(where, undefined, `[${where}] must be a table`);
    const t = v as Table;
    for (const k of Object.keys(t)) if (!keys.includes(k)) this.fail(where, k, `unknown key "${k}" in [${where}]`, `known keys: ${keys.join(', ')}`);
    return t;
  }

  str(t: Table, section: string, key: string): string | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') this.fail(section, key, `${key} must be a non-empty string`);
    return v;
  }

  bool(t: Table, section: string, key: string): boolean {
    const v = t[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.fail(section, key, `${key} must be true or false`);
    return v;
  }

  strings(t: Table, section: string, key: string): string[] {
    const v = t[key];
    if (v === undefined) return [];
    if (typeof v === 'string' && v !== '') return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) this.fail(section, key, `${key} must be a string or a list of strings`);
    return v as string[];
  }

  interval(t: Table, section: string, key: string): number | undefined {
    const v = this.str(t, section, key);
    if (v === undefined) return undefined;
    const ms = parseInterval(v);
    if (ms === undefined) this.fail(section, key, `invalid duration ${key} = "${v}"`, 'use a number and units s, m (minutes), h, d, w, e.g. 7d, 12h, 1h30m');
    return ms;
  }

  count(t: Table, section: string, key: string): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (v === 'unlimited') return Infinity;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(section, key, `${key} must be a whole number or "unlimited"`);
    return v;
  }
}

const RETENTION_COUNTS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const RETENTION_WITHIN = ['within', 'withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Parses and validates a configuration; `file` only names it in errors. Empty text: every default. */
export function parseConfigText(text: string, file: string): FlashbackConfig {
  let root: Table;
  try {
    root = parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
      throw new FlashbackError('ERR_INVALID', `${file}:${err.line}:${err.column}: ${reason}`, {
        hint: 'the configuration file is not valid TOML; fix it (docs/rotation.md has a full example)',
        cause: err,
      });
    }
    throw err;
  }
  const r: Reader = new Reader(text, file);
  const sections = ['backup', 'retention', 'prune', 'scrub', 'password', 'discovery', 'defaults', 'devices'];
  for (const k of Object.keys(root)) if (!sections.includes(k)) r.fail(k, undefined, `unknown section [${k}]`, `known sections: ${sections.map((s) => `[${s}]`).join(', ')}`);

  const b = r.table(root, 'backup', ['paths', 'exclude', 'exclude_file', 'exclude_caches', 'follow_symlinks', 'one_file_system', 'host']);
  const retentionKeys = [...RETENTION_COUNTS.map((k) => `keep_${k}`), ...RETENTION_WITHIN.map((k) => `keep_${snake(k)}`), 'keep_tag'];
  const ret = r.table(root, 'retention', retentionKeys);
  const retention: RetentionPolicy = {};
  for (const k of RETENTION_COUNTS) retention[k] = r.count(ret, 'retention', `keep_${k}`);
  for (const k of RETENTION_WITHIN) {
    const key = `keep_${snake(k)}`;
    const v = r.str(ret, 'retention', key);
    if (v === undefined) continue;
    try {
      retention[k] = parseRetentionDuration(v);
    } catch (err) {
      r.fail('retention', key, (err as Error).message, 'use numbers with the units y, m (months), d, h, e.g. 1y6m, 14d or 36h');
    }
  }
  const tags = r.strings(ret, 'retention', 'keep_tag');
  if (tags.length) retention.tags = tags.map((t) => t.split(',').filter(Boolean));

  const p = r.table(root, 'prune', ['max_unused', 'max_repack_size']);
  const maxUnused = r.str(p, 'prune', 'max_unused') ?? '5%';
  if (!parseMaxUnusedValue(maxUnused)) r.fail('prune', 'max_unused', `invalid max_unused "${maxUnused}"`, 'use a percentage such as 5%, a size such as 200M, or "unlimited"');
  const maxRepackSize = r.str(p, 'prune', 'max_repack_size');
  if (maxRepackSize !== undefined && parseSizeValue(maxRepackSize) === undefined) r.fail('prune', 'max_repack_size', `invalid max_repack_size "${maxRepackSize}"`, 'use a size such as 500M or 2G');
  const s = r.table(root, 'scrub', ['max_duration']);
  const pw = r.table(root, 'password', ['command', 'file']);
  const d = r.table(root, 'discovery', ['roots']);
  const def = r.table(root, 'defaults', ['refresh']);
  const devTable = r.table(root, 'devices', Object.keys((root.devices ?? {}) as Table));

  const devices: DeviceEntry[] = [];
  for (const [name, v] of Object.entries(devTable)) {
    const sec = `devices.${name}`;
    if (!isDeviceName(name)) r.fail(sec, undefined, `invalid device name "${name}"`, 'names are 1-32 letters, digits, "-" or "_", starting with a letter or digit');
    const t = r.table(devTable, name, ['id', 'family', 'path', 'refresh', 'password_command', 'password_file'], sec);
    const id = r.str(t, sec, 'id');
    const family = r.str(t, sec, 'family');
    if (!id || !/^[0-9a-f]{64}$/.test(id)) r.fail(sec, 'id', `device ${name}: id must be 64 hex digits (the repository id)`);
    if (!family || !/^[0-9a-f]{64}$/.test(family)) r.fail(sec, 'family', `device ${name}: family must be 64 hex digits`);
    if (devices.some((x) => x.id === id)) r.fail(sec, 'id', `device ${name}: the same repository id is registered twice`);
    devices.push({ name, id, family, path: r.str(t, sec, 'path'), refresh: r.interval(t, sec, 'refresh'), passwordCommand: r.str(t, sec, 'password_command'), passwordFile: r.str(t, sec, 'password_file') });
  }
  const families = new Set(devices.map((x) => x.family));
  if (families.size > 1) r.fail('devices', undefined, 'the registered devices belong to different families', 'all devices of one configuration must share a family (device add creates them so)');

  const roots = d.roots === undefined ? DEFAULT_ROOTS : r.strings(d, 'discovery', 'roots');
  return {
    backup: {
      paths: r.strings(b, 'backup', 'paths'),
      exclude: r.strings(b, 'backup', 'exclude'),
      excludeFile: r.strings(b, 'backup', 'exclude_file'),
      excludeCaches: r.bool(b, 'backup', 'exclude_caches'),
      followSymlinks: r.bool(b, 'backup', 'follow_symlinks'),
      oneFileSystem: r.bool(b, 'backup', 'one_file_system'),
      host: r.str(b, 'backup', 'host'),
    },
    retention,
    prune: { maxUnused, maxRepackSize },
    scrub: { maxDuration: r.interval(s, 'scrub', 'max_duration') ?? DEFAULT_SCRUB },
    password: { command: r.str(pw, 'password', 'command'), file: r.str(pw, 'password', 'file') },
    discovery: { roots },
    defaults: { refresh: r.interval(def, 'defaults', 'refresh') ?? DEFAULT_REFRESH },
    devices,
  };
}

/** The line and column of `key` in [section] (or of the section header), for error messages; 1-based. */
function locate(text: string, section: string, key: string | undefined): { line: number; column: number } {
  const lines = text.split(/\r?\n/);
  const header = new RegExp(`^\\s*\\[\\s*${section.split('.').map((s) => `"?${escapeRe(s)}"?`).join('\\s*\\.\\s*')}\\s*\\]`);
  let start = lines.findIndex((l) => header.test(l));
  if (key === undefined) return { line: start + 1 || 1, column: 1 };
  const keyRe = new RegExp(`^\\s*"?${escapeRe(key)}"?\\s*=`);
  if (start < 0) start = -1;
  for (let i = start + 1; i < lines.length; i++) {
    if (i > start + 1 && start >= 0 && /^\s*\[/.test(lines[i])) break;
    if (keyRe.test(lines[i])) return { line: i + 1, column: lines[i].search(/\S/) + 1 };
  }
  return { line: start + 1 || 1, column: 1 };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The device to use for a refresh interval. */
export function refreshOf(cfg: FlashbackConfig, d: DeviceEntry): number {
  return d.refresh ?? cfg.defaults.refresh;
}
