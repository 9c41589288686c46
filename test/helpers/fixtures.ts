/** Builds a source tree holding every kind of entry a home directory can hold (needs root for devices/owners). */
import { chmodSync, lchownSync, linkSync, mkdirSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { randomBytes, createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { mknod, setTimes, setXattr } from '../../src/core/fs/native.js';

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
export function prng(seed: string, size: number): Buffer {
  const key = Buffer.alloc(32);
  key.write(seed);
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return c.update(Buffer.alloc(size));
}

export function makeEverythingTree(root: string): void {
  mkdirSync(root, { recursive: true });
  const p = (...parts: string[]) => join(root, ...parts);
  writeFileSync(p('empty'), '');
  writeFileSync(p('hello.txt'), 'hello, world\n');
  writeFileSync(p('random-3M.bin'), prng('r3', 3 * 1024 * 1024));
  writeFileSync(p('random-20M.bin'), prng('r20', 20 * 1024 * 1024 + 12345));
  writeFileSync(p('text.txt'), Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(50000)));
  // sparse: 64 MiB apparent, 1 MiB of data in the middle, hole at the end
  const fd = openSync(p('sparse.img'), 'w');
  writeSync(fd, prng('sp', 1024 * 1024), 0, 1024 * 1024, 20 * 1024 * 1024);
  ftruncateSync(fd, 64 * 1024 * 1024);
  closeSync(fd);
  // one chunk ending in holes: restored with its only write, then truncated to size through the same descriptor
  const tail = openSync(p('tail-holes.bin'), 'w');
  writeSync(tail, prng('th', 64 * 1024), 0, 64 * 1024, 0);
  ftruncateSync(tail, 320 * 1024);
  closeSync(tail);
  mkdirSync(p('empty-dir'));
  let deep = p('deep');
  for (let i = 0; i < 40; i++) deep = join(deep, `level-${i}`);
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'bottom.txt'), 'deep\n');
  writeFileSync(p('n'.repeat(255)), 'long name\n');
  writeFileSync(Buffer.from(`${root}/bad-\xff\xfe-name`, 'latin1'), 'not utf-8\n');
  symlinkSync('hello.txt', p('link-relative'));
  symlinkSync('/etc/hostname', p('link-absolute'));
  symlinkSync('does/not/exist', p('link-dangling'));
  symlinkSync('loop-b', p('loop-a'));
  symlinkSync('loop-a', p('loop-b'));
  symlinkSync('127.0.1.1:+12345', p('lock'));
  symlinkSync(Buffer.from('target-\xff', 'latin1'), Buffer.from(`${root}/link-raw-target`));
  writeFileSync(p('hard-1'), 'shared inode\n');
  linkSync(p('hard-1'), p('hard-2'));
  mkdirSync(p('sub'));
  linkSync(p('hard-1'), p('sub', 'hard-3'));
  mknod(Buffer.from(p('fifo')), S_IFIFO | 0o640, 0n);
  mknod(Buffer.from(p('null-dev')), S_IFCHR | 0o666, 259n); // makedev(1,3)
  writeFileSync(p('setuid'), '#!/bin/sh\n');
  chmodSync(p('setuid'), 0o4755);
  writeFileSync(p('setgid'), 'x');
  chmodSync(p('setgid'), 0o2750);
  mkdirSync(p('sticky'));
  chmodSync(p('sticky'), 0o1777);
  writeFileSync(p('private'), 'secret\n');
  chmodSync(p('private'), 0o600);
  writeFileSync(p('owned'), 'owned by someone else\n');
  lchownSync(p('owned'), 1234, 5678);
  lchownSync(p('link-relative'), 4321, 8765);
  writeFileSync(p('xattr.txt'), 'with attributes\n');
  setXattr(Buffer.from(p('xattr.txt')), Buffer.from('user.comment'), Buffer.from('hello'));
  setXattr(Buffer.from(p('xattr.txt')), Buffer.from('user.binary'), Buffer.from([0, 1, 2, 255]));
  writeFileSync(p('old.txt'), 'from 1960\n');
  setTimes(Buffer.from(p('old.txt')), -315619200_123456789n, -315619200_123456789n, true);
  writeFileSync(p('future.txt'), 'from 2100\n');
  setTimes(Buffer.from(p('future.txt')), 4102444800_987654321n, 4102444800_987654321n, true);
  setTimes(Buffer.from(p('link-relative')), 1000000000_000000001n, 1000000000_000000001n, true);
  writeFileSync(p('sub', 'nested.txt'), randomBytes(1000));
}
