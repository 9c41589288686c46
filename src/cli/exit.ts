/** The one place where errors become exit codes (restic's conventions where they apply). */
import { FlashbackError, type ErrorCode } from '../core/errors/errors.js';

export const EXIT = { ok: 0, error: 1, usage: 2, partial: 3, noRepository: 10, locked: 11, wrongPassword: 12, interrupted: 130 } as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_USAGE: EXIT.usage,
  ERR_NO_REPOSITORY: EXIT.noRepository,
  ERR_LOCKED: EXIT.locked,
  ERR_WRONG_PASSWORD: EXIT.wrongPassword,
  ERR_INTERRUPTED: EXIT.interrupted,
};

export function exitCodeOf(err: unknown): number {
  if (err instanceof FlashbackError) return BY_CODE[err.code] ?? EXIT.error;
  return EXIT.error;
}

/** "flashback: what went wrong\n  hint: what to do" — never a stack trace for expected errors. */
export function describeError(err: unknown, verbose: boolean): string {
  if (err instanceof FlashbackError) {
    let s = `flashback: ${err.message}\n`;
    if (err.hint) s += `  hint: ${err.hint}\n`;
    if (verbose && err.cause) s += `  cause: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}\n`;
    return s;
  }
  const e = err as Error;
  return `flashback: unexpected error: ${verbose ? e?.stack : e?.message ?? String(err)}\n  hint: this is a bug; please report it with the output of --verbose\n`;
}

export class UsageError extends FlashbackError {
  constructor(message: string, hint?: string) {
    super('ERR_USAGE', message, { hint });
  }
}
