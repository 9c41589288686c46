/**
 * One base error with a machine code, a hint for the user and a cause. The CLI maps codes to exit codes
 * in exactly one place (src/cli/exit.ts); core code never exits the process.
 */
export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_NO_REPOSITORY'
  | 'ERR_REPOSITORY_EXISTS'
  | 'ERR_LOCKED'
  | 'ERR_WRONG_PASSWORD'
  | 'ERR_NO_PASSWORD'
  | 'ERR_INTERRUPTED'
  | 'ERR_DAMAGED'
  | 'ERR_NOT_FOUND'
  | 'ERR_DEVICE_FULL'
  | 'ERR_IO'
  | 'ERR_UNSUPPORTED_VERSION'
  | 'ERR_UNSAFE_PATH'
  | 'ERR_INVALID';

export class FlashbackError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FlashbackError';
    this.code = code;
    this.hint = opts.hint;
  }
}

/** Damage found in repository data: names the file (and blob) so that check and restore can report it. */
export class DamageError extends FlashbackError {
  readonly file: string;
  readonly blob?: string;
  constructor(file: string, message: string, opts: { blob?: string; cause?: unknown } = {}) {
    super('ERR_DAMAGED', `${file}: ${message}`, {
      hint: 'run "flashback check --read-data" to see the extent of the damage',
      cause: opts.cause,
    });
    this.file = file;
    this.blob = opts.blob;
  }
}

export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
