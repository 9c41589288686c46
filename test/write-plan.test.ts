/**
 * The packed restore write request (blobwork/write-plan.ts): what the main thread encodes is what the worker
 * reads, every field at its limits (positions past 4 GiB, times before 1970 and after 2100, the largest u32s,
 * raw path bytes), and the packed reply keeps order, ends, finishes and issues.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encodeWritePlan, readWritePlan, WrittenBuilder, type PlanBlob, type PlanTarget } from '../src/core/blobwork/write-plan.js';

test('write plan: encoded and read back field for field', () => {
  const blobs: PlanBlob[] = [
    {
      offset: 0, length: 1234, type: 0, compression: 1, rawLength: 4096, id: randomBytes(32),
      targets: [
        { job: 0, path: Buffer.from('/restore/a.txt'), pos: 0, finish: { size: 4096, mode: 0o6755, uid: 4294967294, gid: 0, atime: -31536000123456789n, mtime: 4102444800987654321n } },
        { job: 7, path: Buffer.from([0x2f, 0x78, 0xff, 0xfe, 0x00 + 0x41]), pos: 2 ** 40 + 12345 }, // raw name bytes, 1 TiB in
      ],
    },
    { offset: 4294967295 - 10, length: 10, type: 1, compression: 0, rawLength: 4294967295, id: randomBytes(32), targets: [] },
    { offset: 99, length: 1, type: 0, compression: 0, rawLength: 1, id: randomBytes(32), targets: [{ job: 4294967295, path: Buffer.alloc(0), pos: 0 }] },
  ];
  const ab = encodeWritePlan(blobs);
  const seen: { blob: Omit<PlanBlob, 'targets'>; targets: PlanTarget[] }[] = [];
  readWritePlan(
    ab,
    (b) => seen.push({ blob: { ...b, id: Buffer.from(b.id) }, targets: [] }),
    (t) => seen[seen.length - 1].targets.push({ ...t, path: Buffer.from(t.path) }),
  );
  assert.equal(seen.length, blobs.length);
  for (const [i, b] of blobs.entries()) {
    const { targets, ...rest } = b;
    assert.deepEqual({ ...seen[i].blob, id: Buffer.from(seen[i].blob.id) }, { ...rest, id: Buffer.from(rest.id) });
    assert.deepEqual(
      seen[i].targets.map((t) => ({ ...t, path: Buffer.from(t.path) })),
      targets.map((t) => ({ ...t, path: Buffer.from(t.path), finish: t.finish })),
    );
  }
  assert.throws(() => encodeWritePlan([{ ...blobs[0], id: Buffer.alloc(31) }]), /32 bytes/);
  const longer = new Uint8Array(ab.byteLength + 1);
  longer.set(new Uint8Array(ab));
  assert.throws(() => readWritePlan(longer.buffer, () => undefined, () => undefined), /trailing bytes/);
});

test('written reply: per target in order, ends, finishes, errors and warnings by index; grows past its first size', () => {
  const w = new WrittenBuilder(2);
  w.ok(10, 4096, true);
  w.failed(11, 'EACCES: permission denied');
  w.ok(12, 0, false, ['chown 1:1: EPERM']);
  for (let i = 0; i < 100; i++) w.ok(100 + i, i, false);
  const { written, issues } = w.finish();
  assert.equal(written.length, 3 * 103);
  assert.equal(written.buffer.byteLength, 8 * 3 * 103); // a compact copy, cheap to transfer
  assert.deepEqual([...written.subarray(0, 9)], [10, 4096, 1, 11, -1, 0, 12, 0, 0]);
  assert.deepEqual([...written.subarray(3 * 102)], [199, 99, 0]);
  assert.deepEqual(issues, [{ i: 1, error: 'EACCES: permission denied' }, { i: 2, warnings: ['chown 1:1: EPERM'] }]);
});
