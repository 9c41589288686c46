/** Global options → an open repository. */
import { LocalBackend } from '../core/backend/local.js';
import { Repository } from '../core/repository/repository.js';
import { readPassword, type PasswordOptions } from './password.js';
import { UsageError } from './exit.js';
import type { Printer } from './printer.js';
import { lockRepository, type Lock, type LockOptions } from '../core/repository/lock.js';
import { FlashbackError } from '../core/errors/errors.js';
import { parseDuration } from './duration.js';

export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  passwordCommand?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  retryLock?: string;
  /** false with --no-lock */
  lock?: boolean;
}

export function repoLocation(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string {
  const loc = g.repo ?? env.FLASHBACK_REPOSITORY;
  if (!loc) throw new UsageError('no repository given', 'pass -r PATH or set FLASHBACK_REPOSITORY');
  return loc;
}

export function passwordOptions(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): PasswordOptions {
  return { passwordFile: g.passwordFile, passwordCommand: g.passwordCommand, env };
}

export async function openRepository(g: GlobalOptions, out?: Printer): Promise<Repository> {
  const backend = new LocalBackend(repoLocation(g));
  await Repository.readConfig(backend); // fail with "no repository" before asking for a passphrase
  const password = await readPassword(passwordOptions(g), `enter passphrase for repository ${backend.location}: `);
  const repo = await Repository.open(backend, password);
  out?.verbose(`opened repository ${repo.config.id.slice(0, 8)} at ${backend.location}`);
  return repo;
}

export function lockOptions(g: GlobalOptions, out?: Printer): LockOptions {
  return {
    retryMs: g.retryLock ? parseDuration(g.retryLock, '--retry-lock') : 0,
    onStale: (rec, why) => out?.verbose(`removed a stale lock of PID ${rec.pid} on ${rec.hostname}: ${why}`),
  };
}

/**
 * Runs fn under a lock. Shared locks (backup, restore, check) fall back to running unlocked, with a warning,
 * on a repository that cannot be written (read-only medium); --no-lock skips them. Exclusive locks never fall back.
 */
export async function withLock<T>(g: GlobalOptions, repo: Repository, exclusive: boolean, out: Printer | undefined, fn: (lock: Lock | undefined) => Promise<T>): Promise<T> {
  let lock: Lock | undefined;
  if (g.lock !== false || exclusive) {
    try {
      lock = await lockRepository(repo, exclusive, lockOptions(g, out));
    } catch (err) {
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      const readOnly = err instanceof FlashbackError && err.code === 'ERR_IO' && ['EROFS', 'EACCES', 'EPERM'].includes(cause?.code ?? '');
      if (exclusive || !readOnly) throw err;
      out?.warn(`the repository is read-only; going on without a lock (${cause?.code})`);
    }
  }
  try {
    return await fn(lock);
  } finally {
    await lock?.release();
  }
}
