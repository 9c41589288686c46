/**
 * `flashback run` as a library (docs/rotation.md §5): for every connected registered device, one at a time,
 * back up, forget + prune, scrub a time-boxed slice, record. A failing device is recorded and the next one
 * runs. No console, no process: configuration, state store, clock, passphrases and events come in.
 */
import { FlashbackError, errorMessage } from '../errors/errors.js';
import type { FlashbackConfig, DeviceEntry } from './config.js';
import { discover, probe, type Discovery } from './discover.js';
import type { HostEnv } from './paths.js';
import { mergeFacts, type DeviceFacts, type ErrorFacts, type StateStore } from './state.js';
import { GONE_HINT, errorFacts, runSteps, type StepContext } from './steps.js';

export type RunStep = 'open' | 'backup' | 'forget' | 'prune' | 'scrub' | 'record';

export interface ProgressLike {
  files: number;
  bytes: number;
  totalFiles?: number;
  totalBytes?: number;
  errors?: number;
  current?: string;
}

export type RunEvent =
  | { type: 'device-start'; name: string; path: string }
  | { type: 'step'; name: string; step: RunStep; progress?: () => ProgressLike }
  | { type: 'step-done'; name: string; step: RunStep; message: string }
  | { type: 'warning'; name: string; message: string }
  | { type: 'device-done'; result: DeviceResult };

export interface RunOptions {
  config: FlashbackConfig;
  env: Pick<HostEnv, 'home' | 'user'>;
  state: StateStore;
  /** run only these registered devices (default: every registered device that is connected) */
  names?: string[];
  /** the clock: snapshot times, retention, scrub budget and records */
  now: () => Date;
  /** IANA zone of the retention calendar */
  timeZone: string;
  hostname: string;
  /** the passphrase of a device (asked once per source by the caller) */
  password: (device: DeviceEntry) => Promise<string>;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** test hook: called before each step of each device (e.g. to pull a device out) */
  beforeStep?: (name: string, step: RunStep) => Promise<void> | void;
}

export interface DeviceResult {
  name: string;
  id: string;
  /** absent: not connected; ambiguous: found at two places (nothing written) */
  status: 'ok' | 'partial' | 'failed' | 'absent' | 'ambiguous' | 'skipped';
  path?: string;
  paths?: string[];
  snapshot?: string;
  filesUnreadable?: number;
  forgotten?: number;
  prunedBytes?: number;
  scrubbedPacks?: number;
  error?: ErrorFacts;
  /** non-fatal problems (prune stopped for space, damage found by the scrub): the device is 'failed' */
  problems: ErrorFacts[];
  facts?: DeviceFacts;
}

export interface RunResult {
  devices: DeviceResult[];
  unregistered: Discovery['unregistered'];
  interrupted: boolean;
}

export async function runDevices(opts: RunOptions): Promise<RunResult> {
  const cfg = opts.config;
  const selected = opts.names?.length ? opts.names.map((n) => cfg.devices.find((d) => d.name === n) ?? unknown(n, cfg)) : cfg.devices;
  const disc = await discover(cfg, opts.env, await opts.state.load());
  const devices: DeviceResult[] = [];
  let interrupted = false;
  for (const d of selected) {
    const paths = disc.found.get(d.id) ?? [];
    const base = { name: d.name, id: d.id, problems: [] as ErrorFacts[] };
    if (interrupted || opts.signal?.aborted) {
      interrupted = true;
      devices.push({ ...base, status: 'skipped' });
      continue;
    }
    if (paths.length === 0) {
      devices.push({ ...base, status: 'absent' });
      continue;
    }
    if (paths.length > 1) {
      const error = errorFacts(new FlashbackError('ERR_INVALID', `device ${d.name} (repository ${d.id.slice(0, 8)}) was found at ${paths.length} places: ${paths.join(', ')}`, {
        hint: 'a copy of a repository is not a second device; unplug or remove the copy (nothing was written to either)',
      }), 'open', opts.now());
      await record(opts, d, { time: error.time, hostname: opts.hostname, last_error: error });
      const r: DeviceResult = { ...base, status: 'ambiguous', paths, error };
      devices.push(r);
      opts.onEvent?.({ type: 'device-done', result: r });
      continue;
    }
    const r = await runOne(opts, d, paths[0]);
    if (r.error?.code === 'ERR_INTERRUPTED') interrupted = true;
    devices.push(r);
  }
  return { devices, unregistered: disc.unregistered, interrupted: interrupted || !!opts.signal?.aborted };
}

function unknown(name: string, cfg: FlashbackConfig): never {
  const known = cfg.devices.map((d) => d.name).join(', ');
  throw new FlashbackError('ERR_USAGE', `no device named "${name}" is registered`, { hint: known ? `registered devices: ${known}` : 'register one with "flashback device add NAME PATH"' });
}

async function runOne(opts: RunOptions, d: DeviceEntry, path: string): Promise<DeviceResult> {
  opts.onEvent?.({ type: 'device-start', name: d.name, path });
  const result: DeviceResult = { name: d.name, id: d.id, status: 'ok', path, problems: [] };
  const ctx: StepContext = { opts, device: d, path, result, facts: { time: opts.now().toISOString(), hostname: opts.hostname }, step: 'open' };
  try {
    await runSteps(ctx);
    if (result.problems.length) result.status = 'failed';
    else if (result.filesUnreadable) result.status = 'partial';
  } catch (err) {
    result.status = 'failed';
    const gone = !(err instanceof FlashbackError && err.code === 'ERR_INTERRUPTED') && (await probe(path))?.id !== d.id;
    result.error = errorFacts(
      gone && !(err instanceof FlashbackError && err.hint === GONE_HINT)
        ? new FlashbackError('ERR_IO', `the device was removed or failed during ${ctx.step} (${errorMessage(err)})`, { hint: GONE_HINT, cause: err })
        : err,
      ctx.step,
      opts.now(),
    );
  }
  const facts = ctx.facts;
  facts.time = opts.now().toISOString();
  facts.last_error = result.error ?? result.problems[0] ?? null;
  result.facts = facts;
  // the device note first (when the device is still there and could be opened), then the host state
  if (ctx.repo) {
    await ctx.saveNote?.(facts).catch((err: unknown) => opts.onEvent?.({ type: 'warning', name: d.name, message: `could not write the status note on the device: ${errorMessage(err)}` }));
  }
  await record(opts, d, facts, path);
  opts.onEvent?.({ type: 'device-done', result });
  return result;
}

async function record(opts: RunOptions, d: DeviceEntry, facts: DeviceFacts, path?: string): Promise<void> {
  try {
    await opts.state.update(d.id, (e) => {
      const merged = mergeFacts(e, facts) ?? { ...facts };
      // this run's outcome is the newest fact about the device, whatever the clocks say
      merged.last_error = facts.last_error;
      merged.time = facts.time;
      if (path) {
        merged.last_seen_path = path;
        merged.last_seen = facts.time;
      }
      return merged;
    });
  } catch (err) {
    opts.onEvent?.({ type: 'warning', name: d.name, message: `could not update the host state: ${errorMessage(err)}` });
  }
}
