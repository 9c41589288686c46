import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNewPassword, readPassword } from '../src/cli/password.js';
import { FlashbackError } from '../src/core/errors/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fb-password-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string): string => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const isCode = (code: string, check: (e: FlashbackError) => boolean = () => true) => (e: unknown) =>
  e instanceof FlashbackError && e.code === code && check(e);

test('precedence: command, file, env command, env file, env password', async () => {
  const f1 = file('f1', 'from-file\n');
  const f2 = file('f2', 'from-env-file\n');
  const all = {
    passwordCommand: 'echo from-command',
    passwordFile: f1,
    env: { FLASHBACK_PASSWORD_COMMAND: 'echo from-env-command', FLASHBACK_PASSWORD_FILE: f2, FLASHBACK_PASSWORD: 'from-env' },
  };
  assert.equal(await readPassword(all, 'p: '), 'from-command');
  assert.equal(await readPassword({ ...all, passwordCommand: undefined }, 'p: '), 'from-file');
  const env = { ...all.env };
  assert.equal(await readPassword({ env }, 'p: '), 'from-env-command');
  assert.equal(await readPassword({ env: { ...env, FLASHBACK_PASSWORD_COMMAND: '' } }, 'p: '), 'from-env-file');
  assert.equal(await readPassword({ env: { FLASHBACK_PASSWORD: 'from-env' } }, 'p: '), 'from-env');
  assert.equal(await readNewPassword({ env: { FLASHBACK_PASSWORD: 'new' } }, 'p: '), 'new');
});

test('password file: exactly one trailing newline is stripped', async () => {
  const read = (content: string) => readPassword({ passwordFile: file('pw', content), env: {} }, 'p: ');
  assert.equal(await read('pw\n'), 'pw');
  assert.equal(await read('pw\r\n'), 'pw');
  assert.equal(await read('pw\n\n'), 'pw\n');
  assert.equal(await read(' pw \t'), ' pw \t');
  assert.equal(await read('pässwörd€'), 'pässwörd€');
  await assert.rejects(readPassword({ passwordFile: join(dir, 'missing'), env: {} }, 'p: '),
    isCode('ERR_NO_PASSWORD', (e) => e.message.includes('missing')));
});

test('empty passphrases are refused', async () => {
  const empty = file('empty', '\n');
  await assert.rejects(readNewPassword({ passwordFile: empty, env: {} }, 'p: '), isCode('ERR_NO_PASSWORD'));
  await assert.rejects(readNewPassword({ passwordCommand: 'true', env: {} }, 'p: '), isCode('ERR_NO_PASSWORD'));
});

test('password command: stdout minus one newline; failure shows stderr, never stdout', async () => {
  assert.equal(await readPassword({ passwordCommand: "printf 'a b\\n\\n'", env: {} }, 'p: '), 'a b\n');
  const cmd = 'echo TOPSECRET; echo "vault is sealed" >&2; exit 3';
  await assert.rejects(readPassword({ passwordCommand: cmd, env: {} }, 'p: '),
    isCode('ERR_NO_PASSWORD', (e) => e.message.includes('vault is sealed') && e.message.includes('3') &&
      !e.message.includes('TOPSECRET') && !String(e.hint).includes('TOPSECRET')));
  await assert.rejects(readPassword({ env: { FLASHBACK_PASSWORD_COMMAND: 'kill -9 $$' } }, 'p: '),
    isCode('ERR_NO_PASSWORD', (e) => e.message.includes('SIGKILL')));
});

// --- interactive: a real pseudo-terminal from script(1) -------------------------------------------------

const haveScript = spawnSync('script', ['--version']).status === 0;
const driver = file('driver.mjs', `
import { createHash } from 'node:crypto';
const { readPassword, readNewPassword } = await import(${JSON.stringify(
  fileURLToPath(new URL('../src/cli/password.js', import.meta.url)))});
try {
  const fn = process.argv[2] === 'new' ? readNewPassword : readPassword;
  const pw = await fn({ env: {} }, 'passphrase: ');
  process.stdout.write('length=' + pw.length + ' sha=' + createHash('sha256').update(pw).digest('hex') + '\\n');
} catch (e) {
  process.stdout.write('error=' + e.code + '\\n');
  process.stderr.write('hint=' + e.hint + '\\n');
  process.exitCode = 3;
}
`);

/** Runs the driver on a pty; each input is typed once the output shows the matching prompt. */
function pty(shellCommand: string, steps: [waitFor: string, input: string][]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-f', '-c', shellCommand, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let next = 0;
    let seen = 0; // prompts are matched in order, each after the previous one
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pty timed out; output so far: ${JSON.stringify(out)}`));
    }, 15_000);
    const onOut = (b: Buffer): void => {
      out += b.toString('latin1');
      while (next < steps.length) {
        const at = out.indexOf(steps[next][0], seen);
        if (at < 0) break;
        seen = at + steps[next][0].length;
        child.stdin.write(steps[next][1]);
        next++;
      }
    };
    child.stdout.on('data', onOut);
    child.stderr.on('data', onOut);
    child.on('close', () => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve(out);
    });
  });
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const NODE = JSON.stringify(process.execPath);
const SECRET = 'QZXJ'; // letters that appear nowhere else in the output (prompts, hex digests, error codes)
const assertHidden = (out: string) => {
  for (const ch of SECRET) assert.ok(!out.includes(ch), `${ch} echoed in ${JSON.stringify(out)}`);
};

test('prompt on /dev/tty while stdin is /dev/null; no echo; backspace', { skip: !haveScript }, async () => {
  const out = await pty(`${NODE} ${driver} < /dev/null`, [['passphrase: ', 'QZXX\x7fJ\r']]);
  assertHidden(out);
  assert.match(out, new RegExp(`length=4 sha=${sha(SECRET)}`));
});

test('prompt while stdin is a pipe; UTF-8 passphrase', { skip: !haveScript }, async () => {
  const out = await pty(`echo piped | ${NODE} ${driver}`, [['passphrase: ', 'ZæJ€\r']]);
  assertHidden(out);
  assert.match(out, new RegExp(`length=4 sha=${sha('ZæJ€')}`));
});

test('Ctrl-C interrupts, Ctrl-D on an empty line gives up', { skip: !haveScript }, async () => {
  const c = await pty(`${NODE} ${driver} < /dev/null`, [['passphrase: ', 'QZ\x03']]);
  assertHidden(c);
  assert.match(c, /error=ERR_INTERRUPTED/);
  const d = await pty(`${NODE} ${driver} < /dev/null`, [['passphrase: ', '\x04']]);
  assert.match(d, /error=ERR_NO_PASSWORD/);
  const e = await pty(`${NODE} ${driver} < /dev/null`, [['passphrase: ', '\r']]);
  assert.match(e, /error=ERR_NO_PASSWORD/);
});

test('new passphrase: asked twice on a terminal and must match', { skip: !haveScript }, async () => {
  const ok = await pty(`${NODE} ${driver} new < /dev/null`, [['passphrase: ', 'QZXJ\r'], ['again: ', 'QZXJ\r']]);
  assertHidden(ok);
  assert.match(ok, new RegExp(`length=4 sha=${sha(SECRET)}`));
  const bad = await pty(`${NODE} ${driver} new < /dev/null`, [['passphrase: ', 'QZXJ\r'], ['again: ', 'QZX\r']]);
  assertHidden(bad);
  assert.match(bad, /error=ERR_NO_PASSWORD/);
});

test('no terminal at all: ERR_NO_PASSWORD with a hint', { skip: !existsSync('/usr/bin/setsid') }, () => {
  const r = spawnSync('setsid', ['-w', process.execPath, driver], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.stdout, 'error=ERR_NO_PASSWORD\n');
  assert.equal(r.stderr, 'hint=set FLASHBACK_PASSWORD_FILE or FLASHBACK_PASSWORD, or pass --password-command\n');
  assert.equal(r.status, 3);
});
