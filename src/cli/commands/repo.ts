/** init, key add|list|remove|passwd, unlock */
import type { Command } from 'commander';
import { LocalBackend } from '../../core/backend/local.js';
import { Repository } from '../../core/repository/repository.js';
import { lockRepository, removeLocks } from '../../core/repository/lock.js';
import { DEFAULT_KDF } from '../../core/model/keyslot.js';
import type { ScryptParams } from '../../core/crypto/crypto.js';
import { lockOptions, openRepository, passwordOptions, repoLocation } from '../context.js';
import { readNewPassword, readPassword } from '../password.js';
import { table, localTime } from '../printer.js';
import type { Ctx } from '../main.js';
import { parseSize } from '../duration.js';
import { UsageError } from '../exit.js';

/** Tests may lower the KDF cost (never below what the format allows); users never need this. */
export function kdfParams(env: NodeJS.ProcessEnv): ScryptParams {
  const n = Number(env.FLASHBACK_TEST_KDF_N);
  return Number.isInteger(n) && n >= 1024 && (n & (n - 1)) === 0 ? { ...DEFAULT_KDF, n } : DEFAULT_KDF;
}

export function registerRepoCommands(program: Command, ctx: Ctx): void {
  program
    .command('init')
    .description('create a new repository (e.g. on a freshly mounted stick)')
    .option('--copy-secrets-from <repo>', 'join the family of another repository: same chunker and blob ids, so snapshots can be copied and damage healed between them')
    .option('--from-password-file <file>', 'passphrase of the --copy-secrets-from repository (or FLASHBACK_FROM_PASSWORD_FILE)')
    .option('--from-password-command <cmd>', 'command printing the passphrase of the --copy-secrets-from repository')
    .option('--pack-size <size>', 'target size of pack files (default 16M; smaller packs suit tiny devices, larger ones huge repositories)')
    .action(async (o: { copySecretsFrom?: string; fromPasswordFile?: string; fromPasswordCommand?: string; packSize?: string }) => {
      const g = ctx.g();
      let packSize: number | undefined;
      if (o.packSize) {
        packSize = parseSize(o.packSize, '--pack-size');
        if (packSize < 256 * 1024 || packSize > 128 * 2 ** 20) throw new UsageError(`--pack-size ${o.packSize} is out of range`, 'choose between 256K and 128M');
      }
      const out = ctx.out();
      const backend = new LocalBackend(repoLocation(g));
      let familyOf: Repository | undefined;
      if (o.copySecretsFrom) {
        const other = new LocalBackend(o.copySecretsFrom);
        await Repository.readConfig(other);
        const env = process.env;
        const pw = await readPassword(
          {
            passwordFile: o.fromPasswordFile ?? env.FLASHBACK_FROM_PASSWORD_FILE,
            passwordCommand: o.fromPasswordCommand ?? env.FLASHBACK_FROM_PASSWORD_COMMAND,
            env: { FLASHBACK_PASSWORD: env.FLASHBACK_FROM_PASSWORD },
          },
          `enter passphrase for repository ${other.location}: `,
        );
        familyOf = await Repository.open(other, pw);
      }
      const password = await readNewPassword(passwordOptions(g), `enter passphrase for the new repository ${backend.location}: `);
      const repo = await Repository.init(backend, password, { familyOf, kdf: kdfParams(process.env), packSize });
      if (out.json) out.jsonLine({ message_type: 'initialized', id: repo.config.id, family: repo.config.family, repository: backend.location });
      else {
        out.info(`created flashback repository ${repo.config.id.slice(0, 10)} at ${backend.location}`);
        if (familyOf) out.info(`it shares chunker and blob ids with ${familyOf.location} (family ${repo.config.family.slice(0, 10)})`);
        out.info('Keep the passphrase safe: without it nobody, including you, can read this repository.');
      }
    });

  const key = program.command('key').description('manage the passphrases (key slots) of a repository');
  key
    .command('list')
    .description('list key slots')
    .action(async () => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const keys = await repo.listKeys();
      if (out.json) return out.jsonLine(keys.map((k) => ({ id: k.id, current: k.current, userName: k.username, hostName: k.hostname, created: k.created, label: k.label, kdf: k.kdf })));
      for (const l of table(
        keys.map((k) => [(k.current ? '*' : ' ') + k.id.slice(0, 8), k.username, k.hostname, localTime(k.created), k.label]),
        [' ID', 'User', 'Host', 'Created', 'Label'],
      ))
        out.line(l);
    });
  key
    .command('add')
    .description('add a passphrase')
    .option('--new-password-file <file>', 'read the new passphrase from a file')
    .option('--label <text>', 'a note to tell slots apart', '')
    .action(async (o: { newPasswordFile?: string; label: string }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const pw = await readNewPassword({ passwordFile: o.newPasswordFile, env: { FLASHBACK_PASSWORD: process.env.FLASHBACK_NEW_PASSWORD } }, 'enter the new passphrase: ');
      const id = await repo.addKey(pw, o.label, kdfParams(process.env));
      if (out.json) out.jsonLine({ message_type: 'key_added', id });
      else out.info(`saved new key slot ${id.slice(0, 8)}`);
    });
  key
    .command('remove <id>')
    .description('remove a passphrase (not the one in use)')
    .action(async (id: string) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await repo.removeKey(id);
      out.info(`removed key slot ${id}`);
    });
  key
    .command('passwd')
    .description('change the passphrase in use (writes a new slot, then removes the old one)')
    .option('--new-password-file <file>', 'read the new passphrase from a file')
    .action(async (o: { newPasswordFile?: string }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const pw = await readNewPassword({ passwordFile: o.newPasswordFile, env: { FLASHBACK_PASSWORD: process.env.FLASHBACK_NEW_PASSWORD } }, 'enter the new passphrase: ');
      const lock = await lockRepository(repo, true, lockOptions(ctx.g(), out));
      try {
        const old = repo.keyId;
        const slots = await repo.listKeys();
        const label = slots.find((k) => k.current)?.label ?? '';
        const id = await repo.addKey(pw, label, kdfParams(process.env));
        await repo.backend.remove('keys', old);
        out.info(`passphrase changed (key slot ${old.slice(0, 8)} replaced by ${id.slice(0, 8)})`);
      } finally {
        await lock.release();
      }
    });

  program
    .command('unlock')
    .description('remove stale locks (with --remove-all: every lock)')
    .option('--remove-all', 'remove all locks, even those of live processes')
    .action(async (o: { removeAll?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const n = await removeLocks(repo, !!o.removeAll);
      out.info(`removed ${n} ${o.removeAll ? '' : 'stale '}lock(s)`);
    });
}
