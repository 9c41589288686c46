import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyNode, createSpecial, readNode } from '../src/core/fs/meta.js';
import {
  groupId,
  groupName,
  listXattrs,
  setTimes,
  setXattr,
  splitNs,
  userId,
  userName,
} from '../src/core/fs/native.js';
import type { Node } from '../src/core/model/node.js';
import { BEFORE_1970, AFTER_2038, lstat, nodeOf } from './helpers/meta.js';

const NS = 1_000_000_000n;
const ROOT_OPTS = { owner: true, ownerByName: false };
const NO_OWNER = { owner: false, ownerByName: false };

let dir: Buffer;

function p(...names: (string | Buffer)[]): Buffer {
  const parts = [dir];
  for (const n of names) parts.push(Buffer.from('/'), Buffer.from(n));
  return Buffer.concat(parts);
}


/** glibc's makedev for the small numbers used here. */
function makedev(major: number, minor: number): bigint {
  return BigInt(((major & 0xfff) << 8) | (minor & 0xff));
}

/** True when the test directory's filesystem supports user.* xattrs. */
function userXattrsSupported(): boolean {
  const probe = p('xattr-probe');
  fs.writeFileSync(probe, '');
  try {
    setXattr(probe, Buffer.from('user.probe'), Buffer.from('1'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTSUP') return false;
    throw err;
  } finally {
    fs.rmSync(probe);
  }
}

before(() => {
  dir = Buffer.from(fs.mkdtempSync(path.join(os.tmpdir(), 'flashback-fs-meta-')));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('native lookups', () => {
  test('user and group names of id 0 are root, and back', () => {
    assert.equal(userName(0), 'root');
    assert.equal(groupName(0), 'root');
    assert.equal(userId('root'), 0);
    assert.equal(groupId('root'), 0);
  });

  test('unknown ids and names', () => {
    assert.equal(userName(3_999_999_999), '');
    assert.equal(groupName(3_999_999_999), '');
    assert.equal(userId('no-such-user-flashback'), undefined);
    assert.equal(groupId('no-such-group-flashback'), undefined);
    assert.equal(userId(''), undefined);
  });

  test('splitNs floors towards minus infinity', () => {
    assert.deepEqual(splitNs(0n), { sec: 0n, nsec: 0 });
    assert.deepEqual(splitNs(-1n), { sec: -1n, nsec: 999_999_999 });
    assert.deepEqual(splitNs(-NS), { sec: -1n, nsec: 0 });
    assert.deepEqual(splitNs(BEFORE_1970), { sec: -86400n * 365n - 1n, nsec: 876_543_211 });
    assert.deepEqual(splitNs(AFTER_2038), { sec: 4_102_444_800n, nsec: 987_654_321 });
  });

  test('errors carry an errno code', () => {
    assert.throws(() => setXattr(p('missing'), Buffer.from('user.a'), Buffer.from('x')), {
      code: 'ENOENT',
      syscall: 'lsetxattr',
    });
    assert.throws(() => listXattrs(p('missing')), { code: 'ENOENT', syscall: 'llistxattr' });
    assert.throws(() => setTimes(p('missing'), 0n, 0n, true), { code: 'ENOENT', syscall: 'utimensat' });
  });
});

describe('readNode', () => {
  test('a regular file with a hard link', () => {
    const file = p('regular');
    fs.writeFileSync(file, 'hello');
    fs.linkSync(file, p('regular-link'));
    fs.chmodSync(file, 0o640);
    const st = lstat(file);
    const node = nodeOf(file);
    assert.equal(node.type, 'file');
    assert.deepEqual(node.name, Buffer.from('regular'));
    assert.equal(node.mode, 0o640);
    assert.equal(node.size, 5);
    assert.equal(node.links, 2);
    assert.equal(node.inode, st.ino);
    assert.equal(node.deviceId, st.dev);
    assert.equal(node.mtime, st.mtimeNs);
    assert.equal(node.atime, st.atimeNs);
    assert.equal(node.ctime, st.ctimeNs);
    assert.equal(node.uid, process.getuid!());
    assert.equal(node.user, userName(node.uid));
    assert.equal(node.rdev, undefined);
    assert.equal(node.linkTarget, undefined);
    assert.equal(node.content, undefined);
  });

  test('a directory has size 0 and a symlink its exact target bytes', () => {
    fs.mkdirSync(p('subdir'));
    assert.equal(nodeOf(p('subdir')).type, 'dir');
    assert.equal(nodeOf(p('subdir')).size, 0);
    const target = Buffer.from([0x2e, 0x2f, 0x80, 0xff]);
    fs.symlinkSync(target, p('dangling'));
    const node = nodeOf(p('dangling'));
    assert.equal(node.type, 'symlink');
    assert.equal(node.size, 0);
    assert.deepEqual(node.linkTarget, target);
  });

  test('a socket', async () => {
    const sock = p('sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock.toString(), resolve));
    try {
      assert.equal(nodeOf(sock).type, 'socket');
      createSpecial(p('sock-restored'), nodeOf(sock));
      assert.equal(fs.existsSync(p('sock-restored')), false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a non-UTF-8 file name', () => {
    const name = Buffer.from([0x66, 0xff, 0xfe]);
    const file = p(name);
    fs.writeFileSync(file, 'x');
    const node = readNode(file, name, lstat(file));
    assert.deepEqual(node.name, name);
    assert.equal(node.size, 1);
    node.mtime = AFTER_2038;
    node.mode = 0o600;
    assert.deepEqual(applyNode(file, node, NO_OWNER), []);
    assert.equal(lstat(file).mtimeNs, AFTER_2038);
    assert.equal(lstat(file).mode & 0o7777n, 0o600n);
    const entries = fs.readdirSync(dir, { encoding: 'buffer' });
    assert.ok(entries.some((e) => e.equals(name)));
  });
});

describe('xattrs', () => {
  test('round trip of user.* attributes, sorted by name bytes', (t) => {
    if (!userXattrsSupported()) {
      t.skip(`the filesystem of ${os.tmpdir()} does not support user.* xattrs (ENOTSUP)`);
      return;
    }
    const src = p('xattr-src');
    fs.writeFileSync(src, 'data');
    const attrs = [
      { name: Buffer.from('user.zeta'), value: Buffer.from('last') },
      { name: Buffer.from('user.alpha'), value: Buffer.from([0, 1, 2, 0xff, 0]) },
      { name: Buffer.from('user.empty'), value: Buffer.alloc(0) },
    ];
    for (const a of attrs) setXattr(src, a.name, a.value);
    const node = nodeOf(src);
    const sorted = [...attrs].sort((a, b) => Buffer.compare(a.name, b.name));
    assert.deepEqual(node.xattrs, sorted);

    const dst = p('xattr-dst');
    fs.writeFileSync(dst, 'data');
    assert.deepEqual(applyNode(dst, node, NO_OWNER), []);
    assert.deepEqual(nodeOf(dst).xattrs, sorted);
  });

  test('no attributes gives undefined', () => {
    fs.writeFileSync(p('plain'), '');
    assert.equal(nodeOf(p('plain')).xattrs, undefined);
  });

  test('a refused attribute becomes a warning, and on a symlink is skipped', () => {
    const file = p('xattr-warn');
    fs.writeFileSync(file, '');
    const node = nodeOf(file);
    node.xattrs = [{ name: Buffer.from('bogusnamespace.x'), value: Buffer.from('v') }];
    const warnings = applyNode(file, node, NO_OWNER);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^xattr "bogusnamespace\.x": ENOTSUP/);

    fs.symlinkSync('xattr-warn', p('xattr-link'));
    const link = nodeOf(p('xattr-link'));
    link.xattrs = [{ name: Buffer.from('user.x'), value: Buffer.from('v') }];
    assert.deepEqual(applyNode(p('xattr-link'), link, NO_OWNER), []);
  });
});

describe('times', () => {
  for (const [label, ns] of [
    ['before 1970', BEFORE_1970],
    ['after 2038', AFTER_2038],
  ] as const) {
    test(`nanosecond mtime and atime of a file, ${label}`, () => {
      const file = p(`times-${label.replace(' ', '-')}`);
      fs.writeFileSync(file, '');
      const node = nodeOf(file);
      node.mtime = ns;
      node.atime = ns + 1n;
      assert.deepEqual(applyNode(file, node, NO_OWNER), []);
      const back = nodeOf(file);
      assert.equal(back.mtime, ns);
      assert.equal(back.atime, ns + 1n);
    });
  }

  test('a symlink gets its own times; its target keeps its times', () => {
    const target = p('times-target');
    fs.writeFileSync(target, '');
    setTimes(target, AFTER_2038, AFTER_2038, false);
    const link = p('times-link');
    fs.symlinkSync('times-target', link);
    const node = nodeOf(link);
    node.mtime = BEFORE_1970;
    node.atime = BEFORE_1970;
    assert.deepEqual(applyNode(link, node, NO_OWNER), []);
    assert.equal(lstat(link).mtimeNs, BEFORE_1970);
    assert.equal(lstat(link).atimeNs, BEFORE_1970);
    assert.equal(lstat(target).mtimeNs, AFTER_2038);
    assert.equal(lstat(target).atimeNs, AFTER_2038);
  });

  test('setTimes without noFollow follows the symlink', () => {
    fs.writeFileSync(p('follow-target'), '');
    fs.symlinkSync('follow-target', p('follow-link'));
    setTimes(p('follow-link'), -1n, -1n, false);
    assert.equal(lstat(p('follow-target')).mtimeNs, -1n);
    assert.notEqual(lstat(p('follow-link')).mtimeNs, -1n);
  });
});

describe('special files', () => {
  test('fifo', () => {
    const src = p('fifo-src');
    createSpecial(src, { ...nodeOf(p()), type: 'fifo', mode: 0o640 });
    const node = nodeOf(src);
    assert.equal(node.type, 'fifo');
    assert.equal(node.rdev, undefined);
    node.mode = 0o604;
    node.mtime = BEFORE_1970;
    const dst = p('fifo-dst');
    createSpecial(dst, node);
    assert.deepEqual(applyNode(dst, node, NO_OWNER), []);
    const back = nodeOf(dst);
    assert.equal(back.type, 'fifo');
    assert.equal(back.mode, 0o604);
    assert.equal(back.mtime, BEFORE_1970);
  });

  test('character device 1,3 and block device 7,0', () => {
    for (const [type, rdev] of [
      ['chardev', makedev(1, 3)],
      ['blockdev', makedev(7, 0)],
    ] as const) {
      const file = p(`dev-${type}`);
      const node: Node = { ...nodeOf(p()), type, mode: 0o620, rdev };
      createSpecial(file, node);
      assert.deepEqual(applyNode(file, node, NO_OWNER), []);
      const back = nodeOf(file);
      assert.equal(back.type, type);
      assert.equal(back.rdev, rdev);
      assert.equal(back.mode, 0o620);
      assert.equal(back.size, 0);
    }
    assert.equal(makedev(1, 3), 259n);
  });

  test('a device without rdev, or a regular file, is refused', () => {
    assert.throws(() => createSpecial(p('no-rdev'), { ...nodeOf(p()), type: 'chardev' }), /device number/);
    assert.throws(() => createSpecial(p('not-special'), { ...nodeOf(p()), type: 'file' }), /not a special/);
  });

  test('creating over an existing entry throws EEXIST', () => {
    fs.writeFileSync(p('exists'), '');
    assert.throws(() => createSpecial(p('exists'), { ...nodeOf(p()), type: 'fifo' }), { code: 'EEXIST' });
  });
});

describe('mode and owner', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  test('setuid, setgid and sticky bits survive a chown', () => {
    const file = p('suid');
    fs.writeFileSync(file, '');
    const node: Node = { ...nodeOf(file), mode: 0o6755, uid: 4321, gid: 5432 };
    assert.deepEqual(applyNode(file, node, ROOT_OPTS), []);
    assert.equal(lstat(file).mode & 0o7777n, 0o6755n);
    assert.equal(lstat(file).uid, 4321n);

    const sticky = p('sticky');
    fs.mkdirSync(sticky);
    const dirNode: Node = { ...nodeOf(sticky), mode: 0o3777 };
    assert.deepEqual(applyNode(sticky, dirNode, ROOT_OPTS), []);
    assert.equal(lstat(sticky).mode & 0o7777n, 0o3777n);
    assert.equal(nodeOf(sticky).mode, 0o3777);
  });

  test('chown to numeric ids, and lchown of a symlink leaves the target alone', () => {
    const file = p('owned');
    fs.writeFileSync(file, '');
    const node: Node = { ...nodeOf(file), uid: 12345, gid: 23456, user: '', group: '' };
    assert.deepEqual(applyNode(file, node, ROOT_OPTS), []);
    assert.equal(lstat(file).uid, 12345n);
    assert.equal(lstat(file).gid, 23456n);
    assert.equal(nodeOf(file).user, '');

    const link = p('owned-link');
    fs.symlinkSync('owned', link);
    assert.deepEqual(applyNode(link, { ...nodeOf(link), uid: 777, gid: 888 }, ROOT_OPTS), []);
    assert.equal(lstat(link).uid, 777n);
    assert.equal(lstat(link).gid, 888n);
    assert.equal(lstat(file).uid, 12345n);
  });

  test('ownerByName prefers local names and falls back to the numeric ids', () => {
    const file = p('by-name');
    fs.writeFileSync(file, '');
    const byName = { owner: true, ownerByName: true };
    const known: Node = { ...nodeOf(file), uid: 12345, gid: 23456, user: 'root', group: 'root' };
    assert.deepEqual(applyNode(file, known, byName), []);
    assert.equal(lstat(file).uid, 0n);
    assert.equal(lstat(file).gid, 0n);

    const unknown: Node = { ...known, user: 'no-such-user-flashback', group: 'no-such-group-flashback' };
    assert.deepEqual(applyNode(file, unknown, byName), []);
    assert.equal(lstat(file).uid, 12345n);
    assert.equal(lstat(file).gid, 23456n);

    assert.deepEqual(applyNode(file, known, ROOT_OPTS), []);
    assert.equal(lstat(file).uid, 12345n, 'without ownerByName the numeric ids win');
  });

  test('owner: false leaves the owner unchanged', () => {
    const file = p('not-owned');
    fs.writeFileSync(file, '');
    assert.deepEqual(applyNode(file, { ...nodeOf(file), uid: 999, gid: 999 }, NO_OWNER), []);
    assert.equal(lstat(file).uid, 0n);
  });
});
