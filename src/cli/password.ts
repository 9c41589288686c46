/**
 * Getting a passphrase: never from argv, never printed, never echoed.
 *
 * Sources, first match wins: --password-command, --password-file, FLASHBACK_PASSWORD_COMMAND,
 * FLASHBACK_PASSWORD_FILE, FLASHBACK_PASSWORD (an empty variable counts as unset), then a prompt on the
 * controlling terminal (/dev/tty, so it works while stdin is a pipe or /dev/null). A file or a command's
 * output loses one trailing newline (\n or \r\n) and nothing else. An empty passphrase is refused.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ReadStream, WriteStream } from 'node:tty';
import { FlashbackError, errorMessage } from '../core/errors/errors.js';

export interface PasswordOptions {
  passwordFile?: string; // --password-file
  passwordCommand?: string; // --password-command
  env: NodeJS.ProcessEnv; // FLASHBACK_PASSWORD_COMMAND, FLASHBACK_PASSWORD_FILE, FLASHBACK_PASSWORD
}

const NO_PASSWORD_HINT = 'set FLASHBACK_PASSWORD_FILE or FLASHBACK_PASSWORD, or pass --password-command';

export async function readPassword(opts: PasswordOptions, prompt: string): Promise<string> {
  return nonEmpty(await fromSources(opts, prompt, false));
}

/** Asks twice on a terminal and checks that both answers match; from the other sources just once. */
export async function readNewPassword(opts: PasswordOptions, prompt: string): Promise<string> {
  return nonEmpty(await fromSources(opts, prompt, true));
}

function nonEmpty(password: string): string {
  if (password === '') {
    throw new FlashbackError('ERR_NO_PASSWORD', 'an empty passphrase is not allowed', { hint: NO_PASSWORD_HINT });
  }
  return password;
}

async function fromSources(opts: PasswordOptions, prompt: string, twice: boolean): Promise<string> {
  const env = opts.env;
  if (opts.passwordCommand) return runCommand(opts.passwordCommand, '--password-command');
  if (opts.passwordFile) return readPasswordFile(opts.passwordFile, '--password-file');
  if (env.FLASHBACK_PASSWORD_COMMAND) return runCommand(env.FLASHBACK_PASSWORD_COMMAND, 'FLASHBACK_PASSWORD_COMMAND');
  if (env.FLASHBACK_PASSWORD_FILE) return readPasswordFile(env.FLASHBACK_PASSWORD_FILE, 'FLASHBACK_PASSWORD_FILE');
  if (env.FLASHBACK_PASSWORD) return env.FLASHBACK_PASSWORD;
  const first = await promptHidden(prompt);
  if (!twice || first === '') return first;
  const second = await promptHidden('enter the same passphrase again: ');
  if (first !== second) {
    throw new FlashbackError('ERR_NO_PASSWORD', 'the passphrases do not match', { hint: 'try again' });
  }
  return first;
}

/** Strips one trailing "\n" or "\r\n", nothing else: spaces may be part of a passphrase. */
function stripNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}

async function readPasswordFile(path: string, source: string): Promise<string> {
  try {
    return stripNewline(await readFile(path, 'utf8'));
  } catch (err) {
    throw new FlashbackError('ERR_NO_PASSWORD', `cannot read the password file ${path} (${source}): ${errorMessage(err)}`, {
      hint: 'check the path, or use another way to give the passphrase',
      cause: err,
    });
  }
}

/** Runs `/bin/sh -c command`; stdin and the terminal stay available to it (a pinentry may need them). */
function runCommand(command: string, source: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (what: string, stderr: string, cause?: unknown): void => {
      const detail = stderr.trim().slice(-2000);
      reject(new FlashbackError('ERR_NO_PASSWORD', `the password command (${source}) ${what}${detail ? `: ${detail}` : ''}`, {
        hint: 'run the command by hand to see what is wrong',
        cause,
      }));
    };
    let child;
    try {
      child = spawn('/bin/sh', ['-c', command], { stdio: ['inherit', 'pipe', 'pipe'] });
    } catch (err) {
      fail(`could not be started (${errorMessage(err)})`, '', err);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => fail(`could not be started (${errorMessage(e)})`, '', e));
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve(stripNewline(Buffer.concat(out).toString('utf8')));
      else fail(signal ? `was killed by ${signal}` : `exited with code ${code}`, stderr);
    });
  });
}

/** The controlling terminal, for reading and for writing, whatever stdin and stdout are. */
function openTty(): { input: ReadStream; output: WriteStream } {
  const fds: number[] = [];
  let input: ReadStream | undefined;
  try {
    fds.push(openSync('/dev/tty', 'r'), openSync('/dev/tty', 'w'));
    input = new ReadStream(fds[0]);
    return { input, output: new WriteStream(fds[1]) };
  } catch (err) {
    if (input) input.destroy();
    for (const fd of input ? fds.slice(1) : fds) closeSync(fd);
    throw new FlashbackError('ERR_NO_PASSWORD', 'no passphrase given', { hint: NO_PASSWORD_HINT, cause: err });
  }
}

/** Prompts on /dev/tty with echo off (raw mode) and reads one line. */
async function promptHidden(prompt: string): Promise<string> {
  const { input, output } = openTty();
  output.on('error', () => {}); // a terminal that goes away fails the read, not the process
  const restore = (): void => {
    try {
      input.setRawMode(false);
    } catch {
      // the terminal is gone
    }
  };
  process.on('exit', restore); // a terminal must never be left without echo
  try {
    input.setRawMode(true); // before the prompt: whatever is typed after it appears is never echoed
    output.write(prompt);
    return await readLine(input);
  } finally {
    output.write('\n');
    restore();
    process.removeListener('exit', restore);
    input.destroy();
    await new Promise<void>((resolve) => output.end(resolve));
    output.destroy();
  }
}

function readLine(input: ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    let escape = 0; // 1 after ESC, 2 inside a CSI sequence (ESC [ ... final byte)
    const finish = (err: FlashbackError | undefined): void => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.pause();
      if (err) reject(err);
      else resolve(chars.join(''));
      chars = [];
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        const c = ch.codePointAt(0) ?? 0;
        if (escape === 1) {
          escape = ch === '[' || ch === 'O' ? 2 : 0;
          continue;
        }
        if (escape === 2) {
          if (c >= 0x40 && c <= 0x7e) escape = 0;
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish(undefined);
        if (ch === '\x03') return finish(new FlashbackError('ERR_INTERRUPTED', 'interrupted'));
        if (ch === '\x04') {
          if (chars.length > 0) return finish(undefined);
          return finish(new FlashbackError('ERR_NO_PASSWORD', 'no passphrase given', { hint: NO_PASSWORD_HINT }));
        }
        if (ch === '\x7f' || ch === '\b') chars.pop();
        else if (ch === '\x15') chars = []; // Ctrl-U
        else if (ch === '\x1b') escape = 1;
        else if (c >= 0x20) chars.push(ch);
      }
    };
    const onEnd = (): void =>
      finish(new FlashbackError('ERR_NO_PASSWORD', 'no passphrase given (end of input)', { hint: NO_PASSWORD_HINT }));
    const onError = (err: Error): void =>
      finish(new FlashbackError('ERR_NO_PASSWORD', `cannot read from the terminal: ${err.message}`, { hint: NO_PASSWORD_HINT }));
    input.setEncoding('utf8'); // keeps a character split across two reads whole
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.resume();
  });
}
