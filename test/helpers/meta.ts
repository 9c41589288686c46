/** Small helpers for the metadata tests (fs-meta, fs-meta-fd). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNode } from '../../src/core/fs/meta.js';
import type { Node } from '../../src/core/model/node.js';

const NS = 1_000_000_000n;
/** 1969-01-01T00:00:00Z minus 0.123456789 s: before the epoch, with nanoseconds. */
export const BEFORE_1970 = -86400n * 365n * NS - 123_456_789n;
/** 2100-01-01T00:00:00.987654321Z: after the 32-bit time_t limit. */
export const AFTER_2038 = 4_102_444_800n * NS + 987_654_321n;

export function lstat(file: Buffer): fs.BigIntStats {
  return fs.lstatSync(file, { bigint: true });
}

export function nodeOf(file: Buffer): Node {
  return readNode(file, Buffer.from(path.basename(file.toString('latin1')), 'latin1'), lstat(file));
}
