/** The local backend's save(): parts written with writev land back to back, atomically, exactly once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LocalBackend } from '../src/core/backend/local.js';

test('save() of many parts (more than one writev can take, empty ones too) reads back as their concatenation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fb-backend-'));
  try {
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
