/**
 * Packs written piece by piece (PackFile over Backend.openWriter) and read window by window (pack-reader.ts),
 * with blobs opened in place: the same packs and the same verdicts as whole-pack writes and reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { LocalBackend } from '../src/core/backend/local.js';
import { notLocal } from './helpers/repo.js';
import { PackFile } from '../src/core/repository/pack-file.js';
import { parsePackHeader, type PackEntry } from '../src/core/pack/format.js';
import { hashFile, headerIdsOf, WindowReader } from '../src/core/blobwork/pack-reader.js';
import { decodeBlob } from '../src/core/repository/blob-codec.js';
import { blobAad } from '../src/core/repository/blob-aad.js';
import { blobId, seal, type BlobIdKey } from '../src/core/crypto/crypto.js';
import { compressBound, compressTo } from '../src/core/crypto/compress.js';
import { DamageError } from '../src/core/errors/errors.js';

const encKey = randomBytes(32);
const idKey: BlobIdKey = { fn: 'hmac-sha256', key: randomBytes(32) };

function sealed(plain: Buffer, type: 0 | 1 = 0): { id: Buffer; sealed: Buffer; plain: Buffer } {
  const id = blobId(idKey, plain);
  return { id, sealed: seal(encKey, blobAad(type, id), plain), plain };
}

async function withRepo(fn: (b: LocalBackend, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-packfile-'));
  try {
    const b = new LocalBackend(join(dir, 'repo'));
    await b.create();
    writeFileSync(join(dir, 'repo', 'config'), '{}'); // data/tmp/ is made only below a config
    await fn(b, join(dir, 'repo'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('PackFile: streamed (several writes, concurrent adds) and gathered packs hold the same blobs; the name is the SHA-256 of the bytes', async () => {
  await withRepo(async (local, repo) => {
    // 3000 small blobs and a few large ones: several 1 MiB writes, and a header larger than 64 KiB
    const blobs = [...Array(3000)].map((_, i) => sealed(randomBytes(1 + (i % 300))));
    blobs.splice(1000, 0, sealed(randomBytes(3 << 20)), sealed(randomBytes(1 << 20), 1));
    for (const backend of [local, notLocal(local)]) {
      const p = new PackFile(backend);
      // adds that do not wait for each other (two workers' results): offsets follow call order
      await Promise.all(blobs.map((b, i) => p.add(i === 1001 ? 1 : 0, 0, b.id, b.sealed, b.plain.length)));
      const done = await p.finish(encKey);
      await done.save();
      const bytes = await local.load('data', done.id);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), done.id);
      assert.equal(bytes.length, done.size);
      const h = parsePackHeader(encKey, bytes, bytes.length, done.id);
      assert.ok('entries' in h);
      assert.deepEqual(h.entries, done.entries);
      h.entries.forEach((e: PackEntry, i) => {
        assert.deepEqual(e.id, blobs[i].id);
        assert.deepEqual(bytes.subarray(e.offset, e.offset + e.length), blobs[i].sealed);
      });
    }
    assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), [], 'no temporary file is left');
  });
});

test('PackFile.discard() removes the temporary file of a pack that will not be saved', async () => {
  await withRepo(async (local, repo) => {
    const p = new PackFile(local);
    for (let i = 0; i < 3; i++) {
      const b = sealed(randomBytes(1 << 20));
      await p.add(0, 0, b.id, b.sealed, b.plain.length);
    }
    assert.equal(readdirSync(join(repo, 'data', 'tmp')).length, 1);
    await p.discard();
    assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), []);
  });
});

test('WindowReader: blobs in windows smaller than the span, a blob larger than a window, a pack cut short, bytes overwritten in place read again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fb-window-'));
  try {
    const file = join(dir, 'pack');
    const data = randomBytes(100_000);
    writeFileSync(file, data);
    const fd = openSync(file, 'r');
    try {
      const scratch = {};
      const r = new WindowReader(fd, scratch, 4096, 90_000);
      let at = 0;
      for (const len of [100, 5000, 1, 20_000, 3000]) {
        const v = r.get(at, len);
        assert.deepEqual(v, data.subarray(at, at + len));
        v.fill(0); // opened in place
        at += len;
      }
      // an earlier blob again (an overlapping, crafted entry): read afresh, not the overwritten bytes
      assert.deepEqual(r.get(50, 200), data.subarray(50, 250));
      // past the end of the file: fewer bytes
      assert.equal(new WindowReader(fd, scratch, 4096).get(99_000, 5000).length, 1000);
      assert.equal(new WindowReader(fd, scratch, 4096).get(120_000, 10).length, 0);
    } finally {
      closeSync(fd);
    }
    truncateSync(file, 10_000);
    const fd2 = openSync(file, 'r');
    try {
      const r = new WindowReader(fd2, {}, 4096);
      assert.equal(r.get(0, 8000).length, 8000);
      assert.equal(r.get(8000, 8000).length, 2000, 'a truncated pack gives the bytes before the cut');
      assert.equal(hashFile(fd2, 10_000, {}, 3000), createHash('sha256').update(readFileSync(file)).digest('hex'));
    } finally {
      closeSync(fd2);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('headerIdsOf reads the header from the tail (also one larger than the first 64 KiB read); a damaged one is an error', async () => {
  await withRepo(async (local) => {
    const blobs = [...Array(2000)].map((_, i) => sealed(randomBytes(10 + i)));
    const p = new PackFile(local);
    for (const b of blobs) await p.add(0, 0, b.id, b.sealed, b.plain.length);
    const done = await p.finish(encKey);
    await done.save();
    const path = local.localPath('data', done.id);
    const size = readFileSync(path).length;
    const fd = openSync(path, 'r+');
    try {
      const h = headerIdsOf(fd, size, encKey, done.id);
      assert.ok('ids' in h);
      assert.deepEqual(Buffer.from(h.ids), Buffer.concat(blobs.map((b) => b.id)));
      const bad = headerIdsOf(fd, size, randomBytes(32), done.id);
      assert.ok('error' in bad && /authentication/.test(bad.error));
    } finally {
      closeSync(fd);
    }
  });
});

test('decodeBlob in place: the plaintext over the ciphertext; a flipped byte is damage, not wrong data', () => {
  const plain = Buffer.from('x'.repeat(5000) + 'y'.repeat(5000));
  const out = Buffer.alloc(compressBound(plain.length));
  const n = compressTo(plain, 3, out);
  assert.ok(n > 0 && n < plain.length);
  assert.equal(compressTo(randomBytes(4096), 3, Buffer.alloc(compressBound(4096))), -1, 'incompressible: keep the raw bytes');
  assert.equal(compressTo(Buffer.alloc(10), 3, Buffer.alloc(compressBound(10))), -1, 'tiny: keep the raw bytes');
  const id = blobId(idKey, plain);
  const meta = { type: 0, compression: 1, rawLength: plain.length };
  const s = seal(encKey, blobAad(0, id), out.subarray(0, n));
  const inPlace = { inPlace: true };
  assert.deepEqual(decodeBlob(encKey, idKey, Buffer.from(s), meta, id, 'p'.repeat(64), inPlace), plain);
  const bad = Buffer.from(s);
  bad[20] ^= 1;
  assert.throws(() => decodeBlob(encKey, idKey, bad, meta, id, 'p'.repeat(64), inPlace), (err) => err instanceof DamageError && /authentication/.test(err.message));
});
