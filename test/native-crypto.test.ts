/**
 * The addon's AES-256-GCM and HMAC-SHA256 (native/crypto.c) against node:crypto, both ways: what one seals the
 * other opens, MACs are equal, and every kind of bad input is refused the same way. Also in worker threads,
 * which each hold their own OpenSSL contexts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { hmac, open, openInto, seal, sealInto, SEAL_OVERHEAD } from '../src/core/crypto/crypto.js';

function nodeSeal(key: Buffer, aad: Buffer, plain: Buffer): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

function nodeOpen(key: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

const SIZES = [0, 1, 15, 16, 17, 4095, 65536, 1 << 20, (1 << 20) + 3];

test('seal and open agree with node:crypto in both directions, for every size', () => {
  const key = randomBytes(32);
  for (const size of SIZES) {
    for (const aad of [Buffer.alloc(0), randomBytes(33)]) {
      const plain = randomBytes(size);
      const mine = seal(key, aad, plain);
      assert.equal(mine.length, size + SEAL_OVERHEAD);
      assert.deepEqual(nodeOpen(key, aad, mine), plain, `node:crypto opens a native seal of ${size} bytes`);
      const theirs = nodeSeal(key, aad, plain);
      assert.deepEqual(open(key, aad, theirs), plain, `the addon opens a node:crypto seal of ${size} bytes`);
      const out = Buffer.alloc(size + 5, 0xee);
      const view = openInto(key, aad, theirs, out);
      assert.deepEqual(view, plain);
      assert.equal(out[size], 0xee, 'nothing written past the plaintext');
    }
  }
});

test('a seal owns its ArrayBuffer (a worker transfers it without a copy) and every nonce is fresh', () => {
  const key = randomBytes(32);
  const nonces = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const s = seal(key, Buffer.alloc(0), Buffer.from('x'));
    assert.equal(s.byteOffset, 0);
    assert.equal(s.buffer.byteLength, s.length);
    nonces.add(s.subarray(0, 12).toString('hex'));
  }
  assert.equal(nonces.size, 3000);
});

test('sealInto writes exactly its bytes at the offset, and refuses a buffer too small', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('aad');
  const plain = randomBytes(1000);
  const out = Buffer.alloc(2000, 0xaa);
  const n = sealInto(key, aad, plain, out, 100);
  assert.equal(n, 1000 + SEAL_OVERHEAD);
  assert.ok(out.subarray(0, 100).every((b) => b === 0xaa));
  assert.ok(out.subarray(100 + n).every((b) => b === 0xaa));
  assert.deepEqual(nodeOpen(key, aad, out.subarray(100, 100 + n)), plain);
  assert.throws(() => sealInto(key, aad, plain, Buffer.alloc(1027), 0), /too small/);
  assert.throws(() => sealInto(key, aad, plain, out, 1000), /too small/);
  assert.throws(() => sealInto(key, aad, plain, out, -1), /too small/);
});

test('wrong key, wrong AAD, a flipped bit anywhere or a truncated seal: nothing opens, no plaintext leaks', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('blob aad');
  const plain = randomBytes(300);
  const sealed = seal(key, aad, plain);
  assert.equal(open(randomBytes(32), aad, sealed), undefined);
  assert.equal(open(key, Buffer.from('other aad'), sealed), undefined);
  for (const at of [0, 11, 12, 100, sealed.length - 17, sealed.length - 16, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at] ^= 0x01;
    assert.equal(open(key, aad, bad), undefined, `bit flipped at ${at}`);
    const out = Buffer.alloc(400);
    assert.equal(openInto(key, aad, bad, out), undefined);
    assert.ok(out.every((b) => b === 0), 'the unauthenticated plaintext is wiped');
  }
  assert.equal(open(key, aad, sealed.subarray(0, sealed.length - 1)), undefined);
  assert.equal(open(key, aad, sealed.subarray(0, SEAL_OVERHEAD - 1)), undefined);
  assert.equal(open(key, aad, Buffer.alloc(0)), undefined);
  assert.throws(() => seal(randomBytes(16), aad, plain), /32 bytes/);
  assert.throws(() => openInto(key, aad, sealed, Buffer.alloc(10)), /too small/);
});

test('hmac equals node:crypto HMAC-SHA256 for any key and data length, from a Buffer or a Uint8Array view', () => {
  for (const keyLen of [0, 16, 32, 64, 65, 200]) {
    const key = randomBytes(keyLen);
    for (const size of [0, 1, 63, 64, 65, 100000]) {
      const data = randomBytes(size + 7).subarray(3, 3 + size);
      const want = createHmac('sha256', key).update(data).digest();
      assert.deepEqual(hmac(key, data), want);
      assert.deepEqual(hmac(new Uint8Array(key), new Uint8Array(data.buffer, data.byteOffset, data.length)), want);
    }
  }
});

test('each worker thread has its own contexts: seals made concurrently in four threads all open', async () => {
  const key = randomBytes(32);
  const url = new URL('../src/core/crypto/crypto.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(({ seal, hmac }) => {
      const out = [];
      for (let i = 0; i < 200; i++) {
        const plain = Buffer.alloc(1000 + i, i);
        out.push({ sealed: seal(workerData.key, Buffer.from([i]), plain), mac: hmac(workerData.key, plain) });
      }
      parentPort.postMessage(out);
    });`;
  const results = await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise<{ sealed: Uint8Array; mac: Uint8Array }[]>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { key, url } });
          w.once('message', (m) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
  for (const r of results) {
    assert.equal(r.length, 200);
    r.forEach(({ sealed, mac }, i) => {
      const plain = Buffer.alloc(1000 + i, i);
      assert.deepEqual(nodeOpen(key, Buffer.from([i]), Buffer.from(sealed)), plain);
      assert.deepEqual(Buffer.from(mac), createHmac('sha256', key).update(plain).digest());
    });
  }
});
