/** A fresh repository per test, driven through the real CLI binary. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from './cli.js';
import type { Backend } from '../../src/core/backend/backend.js';
import type { LocalBackend } from '../../src/core/backend/local.js';

export interface TestRepo {
  dir: string;
  repo: string;
  env: Record<string, string>;
  run(args: string[], extraEnv?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  cleanup(): void;
}

export const PASSWORD = 'correct horse battery staple';

/** Creates a temp dir with an initialised repository (cheap KDF for tests; the format stores the parameters). */
export async function makeRepo(init = true): Promise<TestRepo> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-test-'));
  const repo = join(dir, 'repo');
  const pwFile = join(dir, 'password');
  writeFileSync(pwFile, PASSWORD + '\n');
  const env: Record<string, string> = { FLASHBACK_REPOSITORY: repo, FLASHBACK_PASSWORD_FILE: pwFile, FLASHBACK_TEST_KDF_N: '1024', FLASHBACK_CACHE_DIR: join(dir, 'cache') };
  const t: TestRepo = {
    dir,
    repo,
    env,
    run: (args, extraEnv = {}) => runCli(args, { env: { ...env, ...extraEnv } }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  if (init) {
    const r = await t.run(['init']);
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  }
  return t;
}

export function tempDir(prefix = 'fb-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Pack files that reached the repository (complete ones: hex names, no .tmp). */
export function countPacks(repo: string): number {
  const data = join(repo, 'data');
  return readdirSync(data).reduce((n, d) => n + readdirSync(join(data, d)).filter((f) => /^[0-9a-f]{64}$/.test(f)).length, 0);
}

export interface RunningBackup {
  /** stderr so far */
  stderr(): string;
  /** sends the signal (or runs `interrupt`) and resolves with the exit code */
  stop(interrupt: NodeJS.Signals | (() => void)): Promise<number | null>;
}

/** Starts `backup src` in a child process and resolves once `packs` new packs reached the repository. */
export async function backupUntilPacks(r: TestRepo, src: string, packs: number): Promise<RunningBackup> {
  const before = countPacks(r.repo);
  const child = spawnCli(['backup', src], { env: r.env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const deadline = Date.now() + 60000;
  while (countPacks(r.repo) < before + packs && Date.now() < deadline && child.exitCode === null) await new Promise((res) => setTimeout(res, 20));
  return {
    stderr: () => stderr,
    stop: async (interrupt) => {
      if (typeof interrupt === 'function') interrupt();
      else child.kill(interrupt);
      return exited;
    },
  };
}

/**
 * The same repository files through a backend that is not a plain local directory (as SFTP or S3 would be): no
 * localPath (the main thread reads packs and hands them over), no openWriter (packs are gathered, saved whole).
 */
export function notLocal(b: LocalBackend): Backend {
  return {
    location: b.location,
    create: () => b.create(),
    hasConfig: () => b.hasConfig(),
    save: (t, n, d) => b.save(t, n, d),
    load: (t, n, r) => b.load(t, n, r),
    stat: (t, n) => b.stat(t, n),
    list: (t) => b.list(t),
    listNames: (t) => b.listNames(t),
    remove: (t, n) => b.remove(t, n),
    removeTemporary: (t) => b.removeTemporary(t),
    freeSpace: () => b.freeSpace(),
  };
}
