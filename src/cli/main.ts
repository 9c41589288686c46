/** argv → command → exit code. The only place that touches process.exit and signals. */
import { Command, CommanderError, Option } from 'commander';
import { describeError, exitCodeOf, EXIT } from './exit.js';
import { Printer } from './printer.js';
import type { GlobalOptions } from './context.js';
import { VERSION } from '../core/version.js';
import { addon } from '../core/util/addon.js';
export interface Ctx {
  g: () => GlobalOptions;
  out: () => Printer;
  signal: AbortSignal;
  setExit: (code: number) => void;
}

type Register = (program: Command, ctx: Ctx) => void;

/**
 * Each command's module, in help order, loaded only when needed: a command loads its own code and not every
 * other command's (about 0.1 s of start-up on every run). Help and unknown commands load them all.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['init', 'key', 'unlock'], async () => (await import('./commands/repo.js')).registerRepoCommands],
  [['backup'], async () => (await import('./commands/backup.js')).registerBackup],
  [['restore'], async () => (await import('./commands/restore.js')).registerRestore],
  [['snapshots', 'ls', 'diff', 'find', 'cat'], async () => (await import('./commands/browse.js')).registerBrowse],
  [['check'], async () => (await import('./commands/check.js')).registerCheck],
  [['prune'], async () => (await import('./commands/prune.js')).registerPrune],
  [['forget'], async () => (await import('./commands/forget.js')).registerForget],
  [['repair'], async () => (await import('./commands/repair.js')).registerRepair],
  [['copy', 'heal'], async () => (await import('./commands/copy.js')).registerCopy],
  [['config'], async () => (await import('./commands/config.js')).registerConfig],
  [['device'], async () => (await import('./commands/device.js')).registerDevice],
  [['status'], async () => (await import('./commands/status.js')).registerStatus],
  [['run'], async () => (await import('./commands/run.js')).registerRun],
  [['watch', 'install-service'], async () => (await import('./commands/watch.js')).registerWatch],
];

/** global options that take a separate value (`-r REPO`); the command is the first other word */
const GLOBAL_VALUES = new Set(['-r', '--repo', '--password-file', '--password-command', '--retry-lock']);

export function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return argv[i + 1];
    if (GLOBAL_VALUES.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
export { collect };

/**
 * glibc's default malloc keeps freed 4–16 MiB buffers resident (per-thread arenas, a self-raising mmap
 * threshold). Two arenas at most and a fixed mmap threshold of 128 KiB (glibc's starting value) lowered
 * peak RSS by 20–45 MB here at no cost in time (docs/architecture.md, "Memory"). The process is ours here,
 * so the CLI sets it; the library never does.
 */
function tuneMalloc(): void {
  try {
    addon().tuneMalloc(2, 128 * 1024);
  } catch {
    // no addon: the command that needs it reports that
  }
}

export async function main(argv: string[]): Promise<void> {
  tuneMalloc();
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
  const name = commandName(argv);
  const wanted = COMMANDS.filter(([names]) => name !== undefined && names.includes(name));
  const registers = await Promise.all((wanted.length ? wanted : COMMANDS).map(([, load]) => load()));
  for (const register of registers) register(program, ctx);
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
