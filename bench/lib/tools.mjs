// The tools under test: how each one initialises a repository, backs up, restores and verifies.
// Every command returns { cmd, args, cwd? } to be timed; init() runs untimed.
import fs from 'node:fs';
import path from 'node:path';
import { sh, q } from './sys.mjs';

const RESTIC_PASSWORD = 'fbbench-restic-password';
const BORG_PASSPHRASE = 'fbbench-borg-passphrase';
const FLASHBACK_PASSWORD = 'fbbench-flashback-password';
export const FLASHBACK_KDF_N = '1024';

function borg(name, compression) {
  const last = new Map(); // repository -> name of its newest archive
  let n = 0;
  return {
    name,
    program: 'borg',
    pkg: 'borgbackup',
    note: `borg create --compression ${compression}, repokey-blake2`,
    env: (w) => ({ BORG_PASSPHRASE, BORG_BASE_DIR: path.join(w, 'cache', 'borg'), BORG_DISPLAY_PASSPHRASE: 'no' }),
    cacheDirs: (w) => [path.join(w, 'cache', 'borg')],
    init(repo, env) {
      sh(`borg init --encryption=repokey-blake2 ${q(repo)}`, { env });
    },
    backup(repo, src, step) {
      const archive = `${step}-${++n}`;
      last.set(repo, archive);
      return { cmd: 'borg', args: ['create', '--compression', compression, `${repo}::${archive}`, src] };
    },
    restore: (repo, dest) => ({ cmd: 'borg', args: ['extract', `${repo}::${last.get(repo)}`], cwd: dest }),
    verify: (repo) => ({ cmd: 'borg', args: ['check', '--verify-data', repo] }),
    // borg 1.2 frees space only with compact, after prune
    prune: (repo) => ({ cmd: 'sh', args: ['-c', `borg prune --keep-last 1 ${q(repo)} && borg compact ${q(repo)}`] }),
  };
}

export function makeTools(repoRoot) {
  const fb = path.join(repoRoot, 'bin', 'flashback');
  return {
    flashback: {
      name: 'flashback',
      program: fb,
      note: `${path.relative(repoRoot, fb)} from this checkout; init with FLASHBACK_TEST_KDF_N=${FLASHBACK_KDF_N} (KDF cost excluded)`,
      env: () => ({ FLASHBACK_PASSWORD }),
      cacheDirs: () => [],
      init(repo, env) {
        sh(`${q(fb)} -q -r ${q(repo)} init`, { env: { ...env, FLASHBACK_TEST_KDF_N: FLASHBACK_KDF_N } });
      },
      backup: (repo, src) => ({ cmd: fb, args: ['-q', '-r', repo, 'backup', '--host', 'fbbench', src] }),
      restore: (repo, dest) => ({ cmd: fb, args: ['-q', '-r', repo, 'restore', 'latest', '--target', dest] }),
      verify: (repo) => ({ cmd: fb, args: ['-q', '-r', repo, 'check', '--read-data'] }),
      prune: (repo) => ({ cmd: fb, args: ['-q', '-r', repo, 'forget', '--keep-last', '1', '--prune'] }),
      // fixed cost of one command (opening the repository), for the notes
      probe: (repo) => ({ cmd: fb, args: ['-q', '-r', repo, 'cat', 'config'] }),
    },
    restic: {
      name: 'restic',
      program: 'restic',
      pkg: 'restic',
      note: 'restic backup --compression auto, repository v2, default KDF (its per-command KDF cost is included, see Notes)',
      env: (w) => ({ RESTIC_PASSWORD, RESTIC_CACHE_DIR: path.join(w, 'cache', 'restic') }),
      cacheDirs: (w) => [path.join(w, 'cache', 'restic')],
      init(repo, env) {
        sh(`restic -q -r ${q(repo)} init --repository-version 2`, { env });
      },
      backup: (repo, src) => ({
        cmd: 'restic', args: ['-q', '-r', repo, 'backup', '--host', 'fbbench', '--compression', 'auto', src],
      }),
      restore: (repo, dest) => ({ cmd: 'restic', args: ['-q', '-r', repo, 'restore', 'latest', '--target', dest] }),
      verify: (repo) => ({ cmd: 'restic', args: ['-q', '-r', repo, 'check', '--read-data'] }),
      prune: (repo) => ({ cmd: 'restic', args: ['-q', '-r', repo, 'forget', '--keep-last', '1', '--prune'] }),
      probe: (repo) => ({ cmd: 'restic', args: ['-q', '-r', repo, 'cat', 'config'] }),
    },
    borg: borg('borg', 'zstd,3'),
    'borg-lz4': borg('borg-lz4', 'lz4'),
    rsync: {
      name: 'rsync',
      program: 'rsync',
      pkg: 'rsync',
      note: 'rsync -a --delete into a plain directory (the manual recipe: no history, no encryption)',
      // the manual recipe's baseline: first backup and no-change rerun of d1 only
      onlySteps: ['initial', 'nochange'],
      datasets: ['d1'],
      env: () => ({}),
      cacheDirs: () => [],
      init(repo) {
        fs.mkdirSync(repo, { recursive: true });
      },
      backup: (repo, src) => ({ cmd: 'rsync', args: ['-a', '--delete', `${src}/`, `${repo}/`] }),
    },
  };
}
