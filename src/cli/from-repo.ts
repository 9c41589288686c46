/** A second repository named on the command line (copy --from-repo, heal --from-repo) and its passphrase. */
import type { Command } from 'commander';
import { LocalBackend } from '../core/backend/local.js';
import type { Config } from '../core/model/config.js';
import { Repository } from '../core/repository/repository.js';
import { readPassword } from './password.js';

export interface FromRepoFlags {
  fromRepo?: string;
  fromPasswordFile?: string;
  fromPasswordCommand?: string;
}

export function addFromRepoOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--from-repo <path>', what)
    .option('--from-password-file <file>', 'passphrase of the --from-repo repository (or FLASHBACK_FROM_PASSWORD_FILE)')
    .option('--from-password-command <cmd>', 'command printing the passphrase of the --from-repo repository (or FLASHBACK_FROM_PASSWORD_COMMAND)');
}

/** The config of the other repository: readable without a passphrase, so refusals come before any prompt. */
export async function readFromConfig(location: string): Promise<{ backend: LocalBackend; config: Config; location: string }> {
  const backend = new LocalBackend(location);
  return { backend, config: await Repository.readConfig(backend), location: backend.location };
}

export async function openFromRepo(backend: LocalBackend, f: FromRepoFlags, env: NodeJS.ProcessEnv = process.env): Promise<Repository> {
  const pw = await readPassword(
    {
      passwordFile: f.fromPasswordFile ?? env.FLASHBACK_FROM_PASSWORD_FILE,
      passwordCommand: f.fromPasswordCommand ?? env.FLASHBACK_FROM_PASSWORD_COMMAND,
      env: { FLASHBACK_PASSWORD: env.FLASHBACK_FROM_PASSWORD },
    },
    `enter passphrase for repository ${backend.location}: `,
  );
  return Repository.open(backend, pw);
}
