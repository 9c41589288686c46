/**
 * Repository locks (design.md §12, docs/maintenance.md "Locks").
 *
 * - shared: backup, check, restore. Any number at once: they only add files (or only read).
 * - exclusive: prune, forget, repair. Nothing else at the same time.
 *
 * Taking a lock is "write mine, then look": two processes that start together both see each other and both
 * back off (and retry with jitter when asked to wait), so two exclusive holders can never coexist. A lock is
 * stale when its process is gone on this host (pid dead, or pid reused: the start time differs), or when it has
 * not been refreshed for STALE_AFTER_MS (another host). Stale locks are removed without "unlock". A held lock
 * is refreshed rarely (every REFRESH_MS: one new small file and one removal), so a long backup on a flash
 * device does not churn lock files. Locks are sealed, so nobody without a key can forge one.
 */
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { FlashbackError } from '../errors/errors.js';
import { openFile, sealFile } from '../pack/format.js';
import type { Repository } from './repository.js';

const LOCK_AAD = Buffer.from('flashback lock v1');
export const REFRESH_MS = 30 * 60_000;
export const STALE_AFTER_MS = 2 * 60 * 60_000;

export interface LockRecord {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  /** process start time (Linux: /proc/PID/stat field 22), to tell a reused pid from the owner */
  pid_start?: string;
}

export interface LockOptions {
  /** keep trying this long (ms) while another process holds a conflicting lock */
  retryMs?: number;
  /** called for each stale lock removed */
  onStale?: (rec: LockRecord, why: string) => void;
  now?: () => number;
  refreshMs?: number;
}

export interface Lock {
  readonly exclusive: boolean;
  /** throws if the lock file was removed or could not be refreshed (call before destructive steps) */
  check(): Promise<void>;
  release(): Promise<void>;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Lock files this process holds right now. A lock file of this very process that is not among them was left
 * by an earlier command of the same long-running process (watch) whose release failed: the device was pulled
 * out. It is stale, though its pid is alive.
 */
const held = new Set<string>();

/** Why a lock record is stale, or undefined when its owner may still be running. */
export function staleReason(rec: LockRecord, now: number, me = hostname(), name?: string): string | undefined {
  if (rec.hostname === me && rec.pid === process.pid && name !== undefined && !held.has(name)) {
    return 'left by an earlier run of this process (its release failed)';
  }
  if (rec.hostname === me) {
    if (!alive(rec.pid)) return `process ${rec.pid} is not running`;
    const start = processStart(rec.pid);
    if (rec.pid_start && start && start !== rec.pid_start) return `process ${rec.pid} is not the one that took the lock`;
    return undefined;
  }
  const age = now - Date.parse(rec.time);
  if (age > STALE_AFTER_MS) return `not refreshed for ${Math.round(age / 60_000)} minutes`;
  return undefined;
}

interface Seen {
  name: string;
  rec: LockRecord;
}

async function readLocks(repo: Repository, skip: string): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const name of repo.backend.listNames('locks')) {
    if (name === skip) continue;
    try {
      const rec = JSON.parse(openFile(repo.keys.encKey, LOCK_AAD, await repo.backend.load('locks', name), `locks/${name}`).toString()) as LockRecord;
      out.push({ name, rec });
    } catch {
      // vanished meanwhile, torn, or sealed with another key: cannot belong to a live process of ours
    }
  }
  return out;
}

/** Writes a lock file (exported for tests that stage other hosts' locks). */
export async function writeLock(repo: Repository, rec: LockRecord): Promise<string> {
  const name = randomBytes(32).toString('hex');
  if (rec.pid === process.pid) held.add(name);
  try {
    await repo.backend.save('locks', name, sealFile(repo.keys.encKey, LOCK_AAD, Buffer.from(JSON.stringify(rec)), 3));
  } catch (err) {
    // the file may exist all the same (a device pulled out after the rename): not ours to keep
    held.delete(name);
    throw err;
  }
  return name;
}

function describe(rec: LockRecord): string {
  return `${rec.exclusive ? 'exclusively ' : ''}locked by PID ${rec.pid} on ${rec.hostname}${rec.username ? ` (${rec.username})` : ''} since ${rec.time}`;
}

export async function lockRepository(repo: Repository, exclusive: boolean, opts: LockOptions = {}): Promise<Lock> {
  const now = opts.now ?? Date.now;
  const me = hostname();
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  const rec = (): LockRecord => ({ time: new Date(now()).toISOString(), exclusive, hostname: me, username, pid: process.pid, pid_start: processStart(process.pid) });
  const deadline = now() + (opts.retryMs ?? 0);
  let name = await writeLock(repo, rec());
  try {
    for (let attempt = 0; ; attempt++) {
      let conflict: LockRecord | undefined;
      for (const { name: other, rec: o } of await readLocks(repo, name)) {
        const why = staleReason(o, now(), me, other);
        if (why) {
          await repo.backend.remove('locks', other).catch(() => undefined);
          opts.onStale?.(o, why);
        } else if (o.exclusive || exclusive) {
          conflict ??= o;
        }
      }
      if (!conflict) break;
      held.delete(name);
      await repo.backend.remove('locks', name);
      if (now() >= deadline) {
        throw new FlashbackError('ERR_LOCKED', `repository is ${describe(conflict)}`, {
          hint: 'wait for that run to finish (or pass --retry-lock 10m); if it is gone for good, run "flashback unlock"',
        });
      }
      // back off with jitter so that two processes starting together do not keep colliding
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random())));
      name = await writeLock(repo, rec());
    }
  } catch (err) {
    // e.g. the locks directory cannot be listed (the device was pulled out): the lock file just written must
    // not stay "held", or a later run of this process (watch) would take it for a live lock of its own
    held.delete(name);
    await repo.backend.remove('locks', name).catch(() => undefined);
    throw err;
  }

  let lost: Error | undefined;
  let released = false;
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = async () => {
    try {
      const next = await writeLock(repo, rec());
      const old = name;
      name = next;
      held.delete(old);
      await repo.backend.remove('locks', old);
    } catch (err) {
      lost ??= err as Error;
    }
  };
  const timer = setInterval(() => {
    if (!released) refreshing = refreshing.then(refresh);
  }, opts.refreshMs ?? REFRESH_MS);
  timer.unref();

  return {
    exclusive,
    async check() {
      await refreshing;
      if (!lost) {
        try {
          await repo.backend.stat('locks', name);
        } catch (err) {
          lost = err as Error;
        }
      }
      if (lost) {
        throw new FlashbackError('ERR_LOCKED', 'the repository lock was lost (removed by "unlock" or not refreshable); stopping before changing anything more', {
          hint: 'make sure no other process is working on the repository, then run the command again',
          cause: lost,
        });
      }
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await refreshing;
      held.delete(name);
      await repo.backend.remove('locks', name).catch(() => undefined);
    },
  };
}

/** Lists the lock files with their records ("unreadable" when they cannot be opened with our key). */
export async function listLocks(repo: Repository): Promise<Seen[]> {
  return readLocks(repo, '');
}

/** Removes stale locks only (unlock), or all of them (unlock --remove-all). Returns the number removed. */
export async function removeLocks(repo: Repository, all: boolean, now = Date.now()): Promise<number> {
  let n = 0;
  for await (const name of repo.backend.listNames('locks')) {
    if (!all) {
      let rec: LockRecord;
      try {
        rec = JSON.parse(openFile(repo.keys.encKey, LOCK_AAD, await repo.backend.load('locks', name), `locks/${name}`).toString());
      } catch {
        continue;
      }
      if (!staleReason(rec, now, hostname(), name)) continue;
    }
    await repo.backend.remove('locks', name);
    n++;
  }
  return n;
}
