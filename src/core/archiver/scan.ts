/** Starts the advisory scan worker (scan-worker.ts); `onDone` gets its totals. Errors are ignored. */
import { Worker } from 'node:worker_threads';

export function startScan(paths: string[], patterns: string[], oneFileSystem: boolean, onDone: (files: number, bytes: number) => void): Worker {
  const w = new Worker(new URL('./scan-worker.js', import.meta.url), { workerData: { paths, patterns, oneFileSystem } });
  w.on('message', (m: { files: number; bytes: number; done: boolean }) => {
    if (m.done) onDone(m.files, m.bytes);
  });
  w.on('error', () => undefined); // advisory only
  w.unref();
  return w;
}
