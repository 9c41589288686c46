/**
 * Counts what a backup will visit (files and bytes, after excludes), in a worker thread so that the progress
 * display can show a percentage and an ETA without slowing the walk. Purely advisory: nothing depends on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lstatSync, readdirSync } from 'node:fs';
import { Excluder } from '../source/exclude.js';

interface ScanInit {
  paths: string[];
  patterns: string[];
  oneFileSystem: boolean;
}

const init = workerData as ScanInit;
const excluder = init.patterns.length ? new Excluder(init.patterns) : undefined;
let files = 0;
let bytes = 0;
let last = Date.now();
const SLASH = Buffer.from('/');

function report(done: boolean): void {
  parentPort!.postMessage({ files, bytes, done });
  last = Date.now();
}

function visit(path: Buffer, dev: bigint): void {
  let st;
  try {
    st = lstatSync(path, { bigint: true });
  } catch {
    return;
  }
  if (st.isDirectory()) {
    if (init.oneFileSystem && st.dev !== dev) return;
    let names: Buffer[];
    try {
      names = readdirSync(path, { encoding: 'buffer' });
    } catch {
      return;
    }
    for (const n of names) {
      const child = Buffer.concat([path.length === 1 ? Buffer.alloc(0) : path, SLASH, n]);
      if (excluder) {
        let isDir = false;
        try {
          isDir = lstatSync(child).isDirectory();
        } catch {
          continue;
        }
        if (excluder.excluded(child, isDir)) continue;
      }
      visit(child, dev);
    }
  } else {
    files++;
    if (st.isFile()) bytes += Number(st.size);
  }
  if (Date.now() - last > 200) report(false);
}

for (const p of init.paths) {
  try {
    visit(Buffer.from(p), lstatSync(p, { bigint: true }).dev);
  } catch {
    /* the archiver reports unreadable sources */
  }
}
report(true);
