/** The local backend's save() and openWriter(): parts land back to back, atomically, exactly once. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LocalBackend } from '../src/core/backend/local.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'fb-backend-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('save() of many parts (more than one writev can take, empty ones too) reads back as their concatenation', async (t) => {
  const dir = tempDir(t);
  const b = new LocalBackend(join(dir, 'repo'));
  await b.create();
  const parts: Buffer[] = [];
  for (let i = 0; i < 3000; i++) parts.push(randomBytes(i % 7 === 0 ? 0 : (i * 37) % 5000));
  parts.push(randomBytes(3 << 20));
  const whole = Buffer.concat(parts);
  const name = 'ab'.padEnd(64, '0');
  await b.save('data', name, parts);
  assert.deepEqual(await b.load('data', name), whole);
  assert.deepEqual(await b.load('data', name, { offset: 12345, length: 100 }), whole.subarray(12345, 12445));
  // the same name and size again: a no-op; another size: the existing file is reported damaged
  await b.save('data', name, [whole]);
  await assert.rejects(b.save('data', name, [whole.subarray(1)]), (err: Error & { code?: string }) => err.code === 'ERR_DAMAGED');
  assert.deepEqual(readdirSync(join(dir, 'repo', 'data', 'ab')), [name], 'no temporary file is left');
});

test('openWriter(): appended parts land back to back in data/tmp/, commit() names the file durably, discard() and removeTemporary() leave nothing', async (t) => {
  const dir = tempDir(t);
  const repo = join(dir, 'repo');
  const b = new LocalBackend(repo);
  await b.create();
  writeFileSync(join(repo, 'config'), '{}'); // data/tmp/ is made only below a config
  const parts = [randomBytes(5000), randomBytes(0), randomBytes(3 << 20), randomBytes(17)];
  const w = await b.openWriter('data');
  // writes issued before the previous ones complete still land in call order
  await Promise.all([w.write(parts.slice(0, 2)), w.write([parts[2]]), w.write([parts[3]])]);
  assert.equal(readdirSync(join(repo, 'data', 'tmp')).length, 1, 'a temporary file while writing');
  for await (const n of b.listNames('data')) assert.fail(`listed ${n} before commit()`);
  const name = 'cd'.padEnd(64, '1');
  await w.commit(name);
  assert.deepEqual(await b.load('data', name), Buffer.concat(parts));
  assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), [], 'renamed away');
  // the same name and size again: a no-op that leaves no temporary file
  const again = await b.openWriter('data');
  await again.write(parts);
  await again.commit(name);
  assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), []);
  // a lost data/xx is recreated under an existing config
  rmSync(join(repo, 'data', 'ef'), { recursive: true });
  const lost = await b.openWriter('data');
  await lost.write([parts[0]]);
  await lost.commit('ef'.padEnd(64, '2'));
  assert.deepEqual(await b.load('data', 'ef'.padEnd(64, '2')), parts[0]);
  // discarded, or left by a crash
  const dropped = await b.openWriter('data');
  await dropped.write([parts[2]]);
  await dropped.discard();
  assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), []);
  const crashed = await b.openWriter('data');
  await crashed.write([parts[0]]);
  assert.equal(await b.removeTemporary('data'), 1);
  assert.deepEqual(readdirSync(join(repo, 'data', 'tmp')), []);
  await crashed.discard();
});

test('openWriter() where the repository is gone (device pulled, empty mount point): a clear error, nothing created', async (t) => {
  const dir = tempDir(t);
  const repo = join(dir, 'repo');
  const b = new LocalBackend(repo);
  await b.create();
  rmSync(repo, { recursive: true });
  mkdirSync(repo);
  await assert.rejects(b.openWriter('data'), (err: Error & { code?: string }) => err.code === 'ERR_IO' && /is gone/.test(err.message));
  assert.deepEqual(readdirSync(repo), []);
});
