import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, writeFileSync, symlinkSync, readFileSync, existsSync, readdirSync, lstatSync, statSync } from 'node:fs';
import { makeRepo, tempDir } from './helpers/repo.js';
import { runCli } from './helpers/cli.js';
import { prng } from './helpers/fixtures.js';

test('snapshots --json uses restic field names; tags, host, filters; latest~N', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'x');
  assert.equal((await r.run(['backup', '--tag', 'daily,home', '--host', 'laptop', src])).code, 0);
  writeFileSync(join(src, 'f'), 'y');
  assert.equal((await r.run(['backup', '--tag', 'weekly', src])).code, 0);
  const s = await r.run(['--json', 'snapshots']);
  assert.equal(s.code, 0, s.stderr);
  const list = JSON.parse(s.stdout);
  assert.equal(list.length, 2);
  for (const k of ['id', 'short_id', 'time', 'paths', 'hostname', 'tags', 'tree']) assert.ok(k in list[0], `field ${k}`);
  assert.equal(list[0].short_id, list[0].id.slice(0, 8));
  assert.deepEqual(list[0].tags, ['daily', 'home']);
  assert.equal(list[0].hostname, 'laptop');
  assert.deepEqual(list[0].paths, [src]);
  const byHost = JSON.parse((await r.run(['--json', 'snapshots', '--host', 'laptop'])).stdout);
  assert.equal(byHost.length, 1);
  const byTag = JSON.parse((await r.run(['--json', 'snapshots', '--tag', 'weekly'])).stdout);
  assert.equal(byTag.length, 1);
  assert.notEqual(byTag[0].hostname, 'laptop');
  const one = await r.run(['--json', 'cat', 'snapshot', 'latest~1']);
  assert.equal(JSON.parse(one.stdout).id, list[0].id);
  const pre = await r.run(['cat', 'snapshot', list[1].id.slice(0, 6)]);
  assert.equal(JSON.parse(pre.stdout).id, list[1].id);
  assert.equal((await r.run(['ls', 'latest~5'])).code, 1);
  const text = await r.run(['snapshots']);
  assert.match(text.stdout, new RegExp(list[0].short_id));
});

test('key add, list, passwd and remove; every passphrase opens the same data', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'data');
  assert.equal((await r.run(['backup', src])).code, 0);
  const add = await r.run(['key', 'add', '--label', 'second stick'], { FLASHBACK_NEW_PASSWORD: 'another passphrase' });
  assert.equal(add.code, 0, add.stderr);
  const keys = JSON.parse((await r.run(['--json', 'key', 'list'])).stdout);
  assert.equal(keys.length, 2);
  assert.equal(keys.filter((k: { current: boolean }) => k.current).length, 1);
  const other = { FLASHBACK_REPOSITORY: r.repo, FLASHBACK_PASSWORD: 'another passphrase' };
  const viaOther = await runCli(['--json', 'snapshots'], { env: other });
  assert.equal(viaOther.code, 0, viaOther.stderr);
  assert.equal(JSON.parse(viaOther.stdout).length, 1);
  const current = keys.find((k: { current: boolean }) => k.current);
  const self = await r.run(['key', 'remove', current.id.slice(0, 8)]);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /in use/);
  const second = keys.find((k: { current: boolean }) => !k.current);
  assert.equal((await r.run(['key', 'remove', second.id.slice(0, 8)])).code, 0);
  assert.equal((await runCli(['snapshots'], { env: other })).code, 12, 'a removed passphrase no longer opens the repository');
  const pw = await r.run(['key', 'passwd'], { FLASHBACK_NEW_PASSWORD: 'brand new' });
  assert.equal(pw.code, 0, pw.stderr);
  assert.equal((await r.run(['snapshots'])).code, 12, 'the old passphrase is gone');
  assert.equal((await runCli(['snapshots'], { env: { FLASHBACK_REPOSITORY: r.repo, FLASHBACK_PASSWORD: 'brand new' } })).code, 0);
});

test('excludes, exclude-file, exclude-caches and follow-symlinks (with loop detection)', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  const outside = join(r.dir, 'outside');
  mkdirSync(join(src, 'proj', 'node_modules', 'x'), { recursive: true });
  mkdirSync(join(src, 'cachedir'), { recursive: true });
  mkdirSync(join(outside, 'etc'), { recursive: true });
  writeFileSync(join(src, 'keep.txt'), 'keep');
  writeFileSync(join(src, 'drop.o'), 'object');
  writeFileSync(join(src, 'proj', 'node_modules', 'x', 'index.js'), 'dep');
  writeFileSync(join(src, 'proj', 'main.rs'), 'fn main() {}');
  writeFileSync(join(src, 'cachedir', 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
  writeFileSync(join(src, 'cachedir', 'big.cache'), 'cached');
  writeFileSync(join(outside, 'fstab'), '/dev/sda1 / ext4 defaults 0 1\n');
  writeFileSync(join(outside, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  symlinkSync(join(outside, 'fstab'), join(src, 'fstab'));
  symlinkSync(join(outside, 'etc'), join(src, 'etc'));
  symlinkSync('..', join(src, 'proj', 'up'));
  symlinkSync(join(r.dir, 'missing'), join(src, 'dangling'));
  const exFile = join(r.dir, 'excludes.txt');
  writeFileSync(exFile, '# build products\n*.o\nnode_modules/\n');
  const b = await r.run(['backup', '--exclude-file', exFile, '--exclude', 'nothing-matches', '--exclude-caches', '--follow-symlinks', src]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /up: symlink loop/);
  assert.match(b.stderr, /dangling: cannot follow symlink/);
  const out = join(r.dir, 'out');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', out])).code, 0);
  assert.ok(existsSync(join(out, 'keep.txt')));
  assert.ok(!existsSync(join(out, 'drop.o')));
  assert.ok(!existsSync(join(out, 'proj', 'node_modules')));
  assert.deepEqual(readdirSync(join(out, 'cachedir')), ['CACHEDIR.TAG']);
  assert.ok(lstatSync(join(out, 'fstab')).isFile(), 'the symlinked file was backed up as a file');
  assert.equal(readFileSync(join(out, 'fstab'), 'utf8'), '/dev/sda1 / ext4 defaults 0 1\n');
  assert.equal(readFileSync(join(out, 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.ok(lstatSync(join(out, 'proj', 'up')).isSymbolicLink(), 'a loop stays a link');
  assert.ok(lstatSync(join(out, 'dangling')).isSymbolicLink());
  // without --follow-symlinks links stay links
  assert.equal((await r.run(['backup', src])).code, 0);
  const out2 = join(r.dir, 'out2');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', out2])).code, 0);
  assert.ok(lstatSync(join(out2, 'fstab')).isSymbolicLink());
});

test('restore --include/--exclude, and an interrupted restore resumes by skipping identical files', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'a'), { recursive: true });
  mkdirSync(join(src, 'b'), { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(src, 'a', `f${i}.txt`), `a${i}`);
  writeFileSync(join(src, 'b', 'big.bin'), prng('big', 4 * 1024 * 1024));
  writeFileSync(join(src, 'b', 'skip.log'), 'log');
  assert.equal((await r.run(['backup', src])).code, 0);
  const inc = join(r.dir, 'inc');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', inc, '--include', 'b/', '--exclude', '*.log'])).code, 0);
  assert.deepEqual(readdirSync(inc), ['b']);
  assert.deepEqual(readdirSync(join(inc, 'b')), ['big.bin']);
  const full = join(r.dir, 'full');
  const first = await r.run(['--json', 'restore', `latest:${src}`, '--target', full]);
  assert.equal(JSON.parse(first.stdout).files_skipped, 0);
  writeFileSync(join(full, 'a', 'f1.txt'), 'modified in the target');
  const again = await r.run(['--json', 'restore', `latest:${src}`, '--target', full]);
  const s = JSON.parse(again.stdout);
  assert.equal(s.files_skipped, 6, 'identical files are skipped');
  assert.equal(s.files_restored, 1);
  assert.equal(readFileSync(join(full, 'a', 'f1.txt'), 'utf8'), 'a1');
});

test('find shows every snapshot holding a file and its versions; ls and cat work', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'report.odt'), 'v1');
  assert.equal((await r.run(['backup', src])).code, 0);
  assert.equal((await r.run(['backup', src])).code, 0);
  writeFileSync(join(src, 'docs', 'report.odt'), 'version two');
  assert.equal((await r.run(['backup', src])).code, 0);
  const f = await r.run(['--json', 'find', 'report*.odt']);
  assert.equal(f.code, 0, f.stderr);
  const res = JSON.parse(f.stdout);
  assert.equal(res.length, 1);
  assert.equal(res[0].path, `${src}/docs/report.odt`);
  assert.deepEqual(res[0].versions.map((v: { version: number }) => v.version), [1, 1, 2]);
  const none = JSON.parse((await r.run(['--json', 'find', 'nothing*'])).stdout);
  assert.deepEqual(none, []);
  const ls = await r.run(['ls', 'latest', `${src}/docs`]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stdout.trim().split('\n'), [`${src}/docs`, `${src}/docs/report.odt`]);
  const lsj = await r.run(['--json', 'ls', 'latest', `${src}/docs/report.odt`]);
  const lines = lsj.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].struct_type, 'snapshot');
  assert.equal(lines[1].name, 'report.odt');
  assert.equal(lines[1].size, 11);
  const cfg = JSON.parse((await runCli(['cat', 'config'], { env: { FLASHBACK_REPOSITORY: r.repo } })).stdout);
  assert.deepEqual([cfg.version, cfg.blobId], [2, 'blake3']);
  assert.ok(!JSON.stringify(cfg).includes('masterKey'));
  const tree = JSON.parse((await r.run(['cat', 'tree', JSON.parse((await r.run(['--json', 'snapshots'])).stdout)[0].tree])).stdout);
  assert.ok(Array.isArray(tree.nodes));
});

test('init --copy-secrets-from creates a twin: same chunker and ids, its own key', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'big.bin'), prng('twin', 3 * 1024 * 1024));
  const twin = join(r.dir, 'twin');
  const init = await runCli(['-r', twin, 'init', '--copy-secrets-from', r.repo], {
    env: { FLASHBACK_PASSWORD: 'twin passphrase', FLASHBACK_FROM_PASSWORD_FILE: r.env.FLASHBACK_PASSWORD_FILE, FLASHBACK_TEST_KDF_N: '1024' },
  });
  assert.equal(init.code, 0, init.stderr);
  const c1 = JSON.parse((await runCli(['cat', 'config'], { env: { FLASHBACK_REPOSITORY: r.repo } })).stdout);
  const c2 = JSON.parse((await runCli(['cat', 'config'], { env: { FLASHBACK_REPOSITORY: twin } })).stdout);
  assert.equal(c1.family, c2.family);
  assert.notEqual(c1.id, c2.id);
  assert.deepEqual(c1.chunker, c2.chunker);
  assert.equal((await r.run(['backup', src])).code, 0);
  assert.equal((await runCli(['-r', twin, 'backup', src], { env: { FLASHBACK_PASSWORD: 'twin passphrase' } })).code, 0);
  // walk down from the root tree to the file node with `cat tree`, in each repository
  const contentOf = async (repo: string, pw: Record<string, string>): Promise<string[]> => {
    let tree = JSON.parse((await runCli(['-r', repo, '--json', 'snapshots'], { env: pw })).stdout)[0].tree;
    for (const part of `${src}/big.bin`.split('/').filter(Boolean)) {
      const nodes = JSON.parse((await runCli(['-r', repo, 'cat', 'tree', tree], { env: pw })).stdout).nodes;
      const n = nodes.find((x: { name: string }) => x.name === part);
      if (n.type === 'file') return n.content;
      tree = n.subtree;
    }
    throw new Error('not found');
  };
  const a = await contentOf(r.repo, { FLASHBACK_PASSWORD_FILE: r.env.FLASHBACK_PASSWORD_FILE });
  const b = await contentOf(twin, { FLASHBACK_PASSWORD: 'twin passphrase' });
  assert.ok(a.length >= 2, 'several chunks');
  assert.deepEqual(a, b, 'twins cut the same chunks and give them the same ids');
  // the twin cannot be opened with the first repository's passphrase: its own key
  assert.equal((await runCli(['-r', twin, 'snapshots'], { env: { FLASHBACK_PASSWORD_FILE: r.env.FLASHBACK_PASSWORD_FILE } })).code, 12);
  // but the bytes on the two devices differ: each repository has its own encryption key
  const packs = (repo: string) => readdirSync(join(repo, 'data')).flatMap((d) => readdirSync(join(repo, 'data', d)));
  assert.equal(packs(r.repo).filter((p) => packs(twin).includes(p)).length, 0);
  void statSync;
  void tempDir;
});

test('the command word is found past global options, so only its module is loaded', async () => {
  const { commandName } = await import('../src/cli/main.js');
  assert.equal(commandName(['-r', '/x', '--json', 'backup', '/home']), 'backup');
  assert.equal(commandName(['--repo', 'snapshots', 'ls']), 'ls', 'a global option value is not the command');
  assert.equal(commandName(['--retry-lock', '10m', '-q', 'check', '--read-data']), 'check');
  assert.equal(commandName(['-r/x', 'restore', 'latest']), 'restore');
  assert.equal(commandName(['--repo=/x', 'prune']), 'prune');
  assert.equal(commandName(['--', 'init']), 'init');
  assert.equal(commandName(['--help']), undefined);
  assert.equal(commandName([]), undefined);
  // help for one command, and an unknown command, still work (the latter loads every module to list them)
  const help = await runCli(['backup', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: flashback backup/);
  const unknown = await runCli(['nosuch']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'nosuch'/);
});
