/** argv → command → exit code. The only place that touches process.exit and signals. */
import { Command, CommanderError, Option } from 'commander';
import { describeError, exitCodeOf, EXIT } from './exit.js';
import { Printer } from './printer.js';
import type { GlobalOptions } from './context.js';
import { VERSION } from '../core/version.js';
import { registerRepoCommands } from './commands/repo.js';
import { registerBackup } from './commands/backup.js';
import { registerRestore } from './commands/restore.js';
import { registerBrowse } from './commands/browse.js';
import { registerCheck } from './commands/check.js';
import { registerPrune } from './commands/prune.js';
import { registerForget } from './commands/forget.js';
import { registerRepair } from './commands/repair.js';
import { registerCopy } from './commands/copy.js';
import { registerConfig } from './commands/config.js';
import { registerDevice } from './commands/device.js';
import { registerStatus } from './commands/status.js';
import { registerRun } from './commands/run.js';
import { registerWatch } from './commands/watch.js';

export interface Ctx {
  g: () => GlobalOptions;
  out: () => Printer;
  signal: AbortSignal;
  setExit: (code: number) => void;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
export { collect };

export async function main(argv: string[]): Promise<void> {
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    process.stderr.write('\ninterrupted: finishing the current write so that nothing is lost (press Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let exitCode = 0;
  const program = new Command('flashback')
    .description('Encrypted, deduplicated, incremental backups onto removable flash devices')
    .version(`flashback ${VERSION}`, '-V, --version')
    .option('-r, --repo <path>', 'repository location (or FLASHBACK_REPOSITORY)')
    .option('--password-file <file>', 'read the passphrase from a file (or FLASHBACK_PASSWORD_FILE)')
    .option('--password-command <cmd>', 'run a command that prints the passphrase (or FLASHBACK_PASSWORD_COMMAND)')
    .option('--json', 'print machine-readable JSON')
    .option('--retry-lock <duration>', 'when the repository is locked, keep trying this long (e.g. 10m)')
    .option('--no-lock', 'do not take a shared lock (read-only media); exclusive commands still lock')
    .option('-q, --quiet', 'print only errors and requested data')
    .addOption(new Option('-v, --verbose', 'print more detail, including causes of errors'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const g = () => program.opts<GlobalOptions>();
  let printer: Printer | undefined;
  const ctx: Ctx = {
    g,
    out: () => (printer ??= new Printer(!!g().json, !!g().quiet, !!g().verbose)),
    signal: abort.signal,
    setExit: (c) => (exitCode = c),
  };
  registerRepoCommands(program, ctx);
  registerBackup(program, ctx);
  registerRestore(program, ctx);
  registerBrowse(program, ctx);
  registerCheck(program, ctx);
  registerPrune(program, ctx);
  registerForget(program, ctx);
  registerRepair(program, ctx);
  registerCopy(program, ctx);
  registerConfig(program, ctx);
  registerDevice(program, ctx);
  registerStatus(program, ctx);
  registerRun(program, ctx);
  registerWatch(program, ctx);
  for (const c of program.commands) c.exitOverride();

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      exitCode = err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT.usage;
    } else {
      process.stderr.write(describeError(err, !!g().verbose));
      exitCode = exitCodeOf(err);
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = exitCode;
  // worker threads and handles are closed by now; do not wait for stray timers
  setImmediate(() => process.exit(exitCode));
}
