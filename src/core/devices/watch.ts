/**
 * watch: run the registered devices when they are plugged in (docs/rotation.md "Automatic runs").
 *
 * A poll every `interval` looks for registered devices under the discovery roots (cheap: one `config` file per
 * candidate). A device that has been present for `settle` (the desktop may still be mounting it, or the user
 * plugging several) is run once; it runs again only after it was gone and came back. Runs happen one at a
 * time, in this loop, so never twice at once. A device pulled out mid-run is a failed run, recorded by
 * runDevices; the loop goes on.
 */
import type { RunResult } from './run.js';

export interface Presence {
  /** registered device name → the place it is connected (only devices found at exactly one place) */
  present: Map<string, string>;
}

export type WatchEvent =
  | { type: 'connected'; name: string; path: string; runInMs: number }
  | { type: 'removed'; name: string }
  | { type: 'run-start'; names: string[] }
  | { type: 'run-done'; result: RunResult }
  | { type: 'error'; message: string };

export interface WatchOptions {
  /** where the registered devices are now (reloads the configuration, so edits apply without a restart) */
  look: () => Promise<Presence>;
  run: (names: string[]) => Promise<RunResult>;
  intervalMs: number;
  settleMs: number;
  signal: AbortSignal;
  now?: () => number;
  onEvent?: (e: WatchEvent) => void;
  /** stop after this many runs (tests, and "run at the next plug-in" from a script) */
  maxRuns?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Watches until the signal aborts (or maxRuns runs happened). Returns the number of runs. */
export async function watchDevices(o: WatchOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const emit = o.onEvent ?? (() => undefined);
  /** name → when it was first seen at its path, and whether it already ran during this presence */
  const seen = new Map<string, { path: string; since: number; ran: boolean }>();
  let runs = 0;
  while (!o.signal.aborted) {
    let present: Map<string, string>;
    try {
      present = (await o.look()).present;
    } catch (err) {
      emit({ type: 'error', message: (err as Error).message });
      await sleep(o.intervalMs * 5, o.signal);
      continue;
    }
    for (const [name, s] of seen) {
      if (present.get(name) !== s.path) {
        seen.delete(name);
        emit({ type: 'removed', name });
      }
    }
    const t = now();
    for (const [name, path] of present) {
      if (!seen.has(name)) {
        seen.set(name, { path, since: t, ran: false });
        emit({ type: 'connected', name, path, runInMs: o.settleMs });
      }
    }
    const due = [...seen].filter(([, s]) => !s.ran && t - s.since >= o.settleMs).map(([name]) => name);
    if (due.length && !o.signal.aborted) {
      for (const name of due) seen.get(name)!.ran = true; // once per presence, even when it fails
      emit({ type: 'run-start', names: due });
      try {
        emit({ type: 'run-done', result: await o.run(due) });
      } catch (err) {
        emit({ type: 'error', message: (err as Error).message });
      }
      runs++;
      if (o.maxRuns !== undefined && runs >= o.maxRuns) break;
      continue; // look again at once: devices may have come or gone during the run
    }
    await sleep(o.intervalMs, o.signal);
  }
  return runs;
}
