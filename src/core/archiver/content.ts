/** A changed file's content: read by the chunk workers, its new blobs added to packs, its chunk ids returned. */
import type { BigIntStats } from 'node:fs';
import type { BlobWriter } from '../repository/blob-writer.js';
import type { ChunkPool, ChunkResult } from './pool.js';
import type { BackupState, BackupWarning } from './types.js';

/**
 * The file's chunk ids once the workers have read it, or undefined when it could not be read (warned). No
 * promise per chunk unless a pack write must be awaited: a backup hands over ~100k chunks.
 */
export function readContent(
  pool: ChunkPool,
  writer: BlobWriter,
  state: BackupState,
  path: Buffer,
  st: BigIntStats,
  follow: boolean,
  warn: (kind: BackupWarning['kind'], message: string) => void,
): Promise<string[] | undefined> {
  const ids: string[] = [];
  const onChunk = (c: ChunkResult): Promise<unknown> | void => {
    ids.push(c.id.toString('hex'));
    state.bytes += c.rawLength;
    if (!c.sealed) return;
    const added = writer.add(0, c.id, c.sealed, c.compression, c.rawLength);
    if (typeof added !== 'boolean') return added;
  };
  return pool.submit({ path, size: Number(st.size), mtime: st.mtimeNs, ctime: st.ctimeNs, follow }, onChunk).then((r) => {
    if (r.error) {
      warn('unreadable', `${r.error.code}: cannot read file`);
      return undefined;
    }
    if (r.changed) warn('changed', `file ${r.changed}; the saved copy may be inconsistent`);
    return ids;
  });
}
