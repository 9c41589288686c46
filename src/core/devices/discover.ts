/**
 * Finding connected devices (docs/rotation.md §3): by repository id, never by path. Each candidate directory
 * is probed by reading `config` only (no passphrase needed); opening the repository later verifies the
 * config's MAC and the id against the key slot.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LocalBackend } from '../backend/local.js';
import { Repository } from '../repository/repository.js';
import type { FlashbackConfig } from './config.js';
import { expandPath, type HostEnv } from './paths.js';
import type { HostState } from './state.js';

export interface Discovery {
  /** registered device id → the distinct places it was found (more than one: ambiguous, written by nobody) */
  found: Map<string, string[]>;
  /** repositories under the roots that no registered device names */
  unregistered: { path: string; id: string; family: string }[];
}

function globRe(component: string): RegExp {
  return new RegExp(`^${component.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
}

/** Directories matching a pattern whose components may hold '*' (one level each). Unreadable parts: none. */
export async function expandRoot(pattern: string): Promise<string[]> {
  const parts = pattern.split('/').filter((p, i) => p !== '' || i === 0);
  let dirs = [parts[0] === '' ? '/' : parts[0]];
  for (const part of parts.slice(1)) {
    const next: string[] = [];
    for (const d of dirs) {
      if (!part.includes('*')) {
        next.push(join(d, part));
        continue;
      }
      const re = globRe(part);
      let names: string[] = [];
      try {
        names = (await fsp.readdir(d)).sort();
      } catch {
        continue;
      }
      for (const n of names) if ((!n.startsWith('.') || part.startsWith('.')) && re.test(n)) next.push(join(d, n));
    }
    dirs = next;
  }
  const out: string[] = [];
  for (const d of dirs) if (await isDir(d)) out.push(d);
  return out;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The repository config at `dir`, or undefined when there is none (or it cannot be read). */
export async function probe(dir: string): Promise<{ id: string; family: string } | undefined> {
  try {
    const c = await Repository.readConfig(new LocalBackend(dir));
    return { id: c.id, family: c.family };
  } catch {
    return undefined;
  }
}

export async function discover(cfg: FlashbackConfig, env: Pick<HostEnv, 'home' | 'user'>, state?: HostState): Promise<Discovery> {
  const registered = new Set(cfg.devices.map((d) => d.id));
  const candidates: string[] = [];
  for (const d of cfg.devices) {
    if (d.path) candidates.push(expandPath(d.path, env));
    const seen = state?.devices[d.id]?.last_seen_path;
    if (seen) candidates.push(seen);
  }
  for (const root of cfg.discovery.roots) {
    for (const dir of await expandRoot(expandPath(root, env))) candidates.push(join(dir, 'flashback'), dir);
  }
  const found = new Map<string, string[]>();
  const unregistered: Discovery['unregistered'] = [];
  const visited = new Set<string>();
  for (const c of candidates) {
    const real = await fsp.realpath(c).catch(() => undefined);
    if (!real || visited.has(real)) continue;
    visited.add(real);
    const p = await probe(real);
    if (!p) continue;
    if (registered.has(p.id)) found.set(p.id, [...(found.get(p.id) ?? []), real]);
    else unregistered.push({ path: real, ...p });
  }
  return { found, unregistered };
}
