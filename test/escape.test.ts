import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync, readFileSync, lstatSync } from 'node:fs';
import { makeRepo, PASSWORD, type TestRepo } from './helpers/repo.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { BlobWriter } from '../src/core/repository/blob-writer.js';
import { encodeTree } from '../src/core/model/tree.js';
import type { Node } from '../src/core/model/node.js';

function node(name: Buffer | string, type: Node['type'], extra: Partial<Node> = {}): Node {
  return {
    name: typeof name === 'string' ? Buffer.from(name) : name,
    type,
    mode: type === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    user: 'root',
    group: 'root',
    mtime: 1700000000_000000000n,
    atime: 1700000000_000000000n,
    ctime: 1700000000_000000000n,
    size: 0,
    inode: 1n,
    deviceId: 1n,
    links: 1,
    ...extra,
  };
}

/** Writes a snapshot whose root tree is built by `build` (bypassing every check the archiver makes). */
async function craft(r: TestRepo, build: (w: BlobWriter, repo: Repository) => Promise<Node[]>): Promise<void> {
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  await repo.loadIndex();
  const w = new BlobWriter(repo);
  const root = await w.addTree(encodeTree(await build(w, repo)));
  await w.flush();
  await repo.snapshots.save({ version: 1, time: new Date().toISOString(), tree: root, paths: ['/x'], hostname: 'evil', username: 'evil', uid: 0, gid: 0, tags: [], excludes: [], program_version: 'crafted' });
}

async function fileNode(w: BlobWriter, repo: Repository, name: string, data: string): Promise<Node> {
  const s = repo.sealBlob(0, Buffer.from(data));
  await w.add(0, s.id, s.sealed, s.compression, s.rawLength);
  return node(name, 'file', { size: data.length, content: [s.id.toString('hex')] });
}

for (const bad of ['..', '.', '../../etc/evil', '/etc/evil', 'a/b', 'nul\0byte', '']) {
  test(`a crafted snapshot with the name ${JSON.stringify(bad)} is refused and nothing is written outside the target`, async (t) => {
    const r = await makeRepo();
    t.after(() => r.cleanup());
    await craft(r, async (w, repo) => {
      const f = await fileNode(w, repo, 'x', 'owned\n');
      f.name = Buffer.from(bad);
      const sub = await w.addTree(encodeTree([f]));
      return [node('dir', 'dir', { subtree: sub })];
    });
    const target = join(r.dir, 'target');
    const res = await r.run(['restore', 'latest', '--target', target]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /unsafe name/);
    assert.ok(!existsSync(join(r.dir, 'etc')) && !existsSync('/etc/evil') && !existsSync(join(r.dir, 'x')));
    const check = await r.run(['check']);
    assert.equal(check.code, 1, 'check reports the crafted tree');
  });
}

test('restore never follows a symlink already in the target, for directories or files', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  await craft(r, async (w, repo) => {
    const pwned = await fileNode(w, repo, 'pwned', 'written through a symlink\n');
    const sub = await w.addTree(encodeTree([pwned]));
    const victim = await fileNode(w, repo, 'victim', 'overwritten through a symlink\n');
    return [node('sub', 'dir', { subtree: sub }), victim, node('escape', 'symlink', { linkTarget: Buffer.from('../outside') })];
  });
  const outside = join(r.dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'original\n');
  const target = join(r.dir, 'target');
  mkdirSync(target);
  symlinkSync(outside, join(target, 'sub'));
  symlinkSync(join(outside, 'victim'), join(target, 'victim'));
  const res = await r.run(['restore', 'latest', '--target', target]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(readdirSync(outside), ['victim']);
  assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'original\n');
  assert.ok(lstatSync(join(target, 'sub')).isDirectory());
  assert.equal(readFileSync(join(target, 'sub', 'pwned'), 'utf8'), 'written through a symlink\n');
  assert.ok(lstatSync(join(target, 'victim')).isFile());
  assert.ok(lstatSync(join(target, 'escape')).isSymbolicLink(), 'a symlink in the snapshot is restored as a link, never followed');
});
