/**
 * Repository locks (design.md §12). A writer takes an exclusive lock; a lock whose process is gone on this host
 * is stale and removed. Locks are sealed, so nobody without a key can forge one that blocks the owner.
 */
import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { FlashbackError } from '../errors/errors.js';
import { openFile, sealFile } from '../pack/format.js';
import type { Repository } from './repository.js';

const LOCK_AAD = Buffer.from('flashback lock v1');

interface LockRecord {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Lock {
  release(): Promise<void>;
}

export async function lockRepository(repo: Repository, exclusive: boolean): Promise<Lock> {
  const me = hostname();
  for await (const f of repo.backend.list('locks')) {
    let rec: LockRecord;
    try {
      rec = JSON.parse(openFile(repo.keys.encKey, LOCK_AAD, await repo.backend.load('locks', f.name), `locks/${f.name}`).toString());
    } catch {
      continue; // unreadable lock file (torn write, another key): it cannot belong to a live writer of ours
    }
    if (rec.hostname === me && !alive(rec.pid)) {
      await repo.backend.remove('locks', f.name);
      continue;
    }
    if (rec.exclusive || exclusive) {
      throw new FlashbackError('ERR_LOCKED', `repository is locked by PID ${rec.pid} on ${rec.hostname} (${rec.username}) since ${rec.time}`, {
        hint: 'wait for that run to finish; if it is gone, remove the lock with "flashback unlock"',
      });
    }
  }
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    /* ignore */
  }
  const rec: LockRecord = { time: new Date().toISOString(), exclusive, hostname: me, username, pid: process.pid };
  const name = randomBytes(32).toString('hex');
  await repo.backend.save('locks', name, sealFile(repo.keys.encKey, LOCK_AAD, Buffer.from(JSON.stringify(rec)), 3));
  return { release: () => repo.backend.remove('locks', name) };
}

export async function removeAllLocks(repo: Repository): Promise<number> {
  let n = 0;
  for await (const f of repo.backend.list('locks')) {
    await repo.backend.remove('locks', f.name);
    n++;
  }
  return n;
}
