/** Positional writes that leave holes for zero blocks (sparse restore), and read-back verification. */
import { promises as fsp, constants as C } from 'node:fs';

const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);

function isZero(b: Buffer, start: number, end: number): boolean {
  return b.subarray(start, end).equals(ZERO.subarray(0, end - start));
}

async function writeAll(fh: fsp.FileHandle, data: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, pos + off);
    off += bytesWritten;
  }
}

/** Writes `data` at `pos`; with sparse, 64 KiB blocks of zeros are skipped (the file was truncated, so they read as zeros). */
export async function writeSparse(fh: fsp.FileHandle, data: Buffer, pos: number, sparse: boolean): Promise<void> {
  if (!sparse) return writeAll(fh, data, pos);
  let run = -1;
  for (let i = 0; i < data.length; i += BLOCK) {
    const end = Math.min(i + BLOCK, data.length);
    const zero = isZero(data, i, end);
    if (!zero && run < 0) run = i;
    if (zero && run >= 0) {
      await writeAll(fh, data.subarray(run, i), pos + run);
      run = -1;
    }
  }
  if (run >= 0) await writeAll(fh, data.subarray(run), pos + run);
}

/** Re-reads a restored file blob by blob and checks each keyed id. Returns a description of the first mismatch. */
export async function verifyFile(path: Buffer, ids: string[], sizes: number[], idOf: (b: Buffer) => Buffer): Promise<string | undefined> {
  const fh = await fsp.open(path, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    let pos = 0;
    for (let i = 0; i < ids.length; i++) {
      if (sizes[i] < 0) return `blob ${ids[i]} unknown`;
      const buf = Buffer.allocUnsafe(sizes[i]);
      const { bytesRead } = await fh.read(buf, 0, sizes[i], pos);
      if (bytesRead !== sizes[i] || idOf(buf).toString('hex') !== ids[i]) return `content differs at offset ${pos}`;
      pos += sizes[i];
    }
    const st = await fh.stat();
    if (st.size !== pos) return `size is ${st.size}, expected ${pos}`;
    return undefined;
  } finally {
    await fh.close();
  }
}
