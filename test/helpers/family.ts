/** Two (or more) repositories of one family (init --copy-secrets-from), each with its own passphrase. */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './cli.js';
import { makeRepo, type TestRepo } from './repo.js';

/** A twin of `of`: same family, its own directory and its own passphrase. */
export async function makeTwin(of: TestRepo, extraInit: string[] = []): Promise<TestRepo> {
  const t = await makeRepo(false);
  writeFileSync(t.env.FLASHBACK_PASSWORD_FILE, 'the twin has another passphrase\n');
  const r = await runCli(['init', '--copy-secrets-from', of.repo, ...extraInit], { env: { ...t.env, FLASHBACK_FROM_PASSWORD_FILE: of.env.FLASHBACK_PASSWORD_FILE } });
  if (r.code !== 0) throw new Error(`twin init failed: ${r.stderr}`);
  return t;
}

/** Runs `args` on `on` with `from`'s passphrase given as the --from-repo passphrase. */
export function runFrom(on: TestRepo, from: TestRepo, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return on.run(args, { FLASHBACK_FROM_PASSWORD_FILE: from.env.FLASHBACK_PASSWORD_FILE });
}

/** `copy --from-repo from` into `to`, --json; returns the exit code and the parsed summary. */
export async function copyJson(to: TestRepo, from: TestRepo, args: string[] = []): Promise<{ code: number; stderr: string; summary: Record<string, any> }> {
  const r = await runFrom(to, from, ['--json', 'copy', '--from-repo', from.repo, ...args]);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let summary: Record<string, any> = {};
  try {
    summary = JSON.parse(last);
  } catch {
    /* no summary (refused): the caller checks the code */
  }
  return { code: r.code, stderr: r.stderr, summary };
}

/** Bytes of every file in a repository (locks excluded: they come and go). */
export function repoBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'locks') continue;
    const p = join(dir, name);
    const st = statSync(p);
    n += st.isDirectory() ? repoBytes(p) : st.size;
  }
  return n;
}

/** Pack files of a repository, full paths, largest first. */
export function packFiles(repo: string): string[] {
  const data = join(repo, 'data');
  return readdirSync(data)
    .flatMap((d) => readdirSync(join(data, d)).map((n) => join(data, d, n)))
    .filter((p) => /[0-9a-f]{64}$/.test(p))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}
