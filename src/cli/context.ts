/** Global options → an open repository. */
import { LocalBackend } from '../core/backend/local.js';
import { Repository } from '../core/repository/repository.js';
import { readPassword, type PasswordOptions } from './password.js';
import { UsageError } from './exit.js';
import type { Printer } from './printer.js';

export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  passwordCommand?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
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
