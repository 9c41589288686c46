/**
 * The steps of `run` on one device (docs/rotation.md §5): open, backup, forget, prune, scrub, record. Each
 * step opens the repository afresh (the index changes under backup and prune) with the same passphrase, and
 * first checks that the device is still the same repository (pulled out or swapped: stop here).
 */
import { Archiver } from '../archiver/archiver.js';
import { LocalBackend } from '../backend/local.js';
import { Checker } from '../checker/checker.js';
import { FlashbackError } from '../errors/errors.js';
import { executePrune } from '../prune/execute.js';
import { planPrune } from '../prune/plan.js';
import { lockRepository, type Lock } from '../repository/lock.js';
import { Repository } from '../repository/repository.js';
import { filterSnapshots } from '../repository/snapshots.js';
import { loadStatusNote, saveStatusNote } from '../repository/status-note.js';
import { executeForget, groupsKeepingNothing, planForget } from '../retention/forget.js';
import { policyIsEmpty } from '../retention/policy.js';
import { Excluder, readExcludeFile } from '../source/exclude.js';
import type { DeviceEntry } from './config.js';
import { probe } from './discover.js';
import { parseMaxUnusedValue, parseSizeValue } from './interval.js';
import { expandPath } from './paths.js';
import { mergeFacts, type DeviceFacts, type ScrubFacts } from './state.js';
import type { DeviceResult, RunOptions, RunStep } from './run.js';
import { errorMessage } from '../errors/errors.js';
import type { ErrorFacts } from './state.js';
import type { Coverage } from '../checker/scrub-plan.js';
import type { FileType } from '../backend/backend.js';

export interface StepContext {
  opts: RunOptions;
  device: DeviceEntry;
  path: string;
  result: DeviceResult;
  facts: DeviceFacts;
  step: RunStep;
  repo?: Repository;
  saveNote?: (facts: DeviceFacts) => Promise<void>;
}

export const GONE_HINT = 'the device was removed or failed; plug it in again and rerun: what was already saved is kept';

export async function runSteps(ctx: StepContext): Promise<void> {
  const { opts, device } = ctx;
  const cfg = opts.config;
  let password = '';
  /** `announce`: emit the step event here (backup and scrub emit their own, with progress) */
  const open = async (step: RunStep, announce = true): Promise<Repository> => {
    ctx.step = step;
    if (opts.signal?.aborted) throw new FlashbackError('ERR_INTERRUPTED', 'interrupted');
    await opts.beforeStep?.(device.name, step);
    const seen = await probe(ctx.path);
    if (seen?.id !== device.id) {
      throw new FlashbackError('ERR_IO', `${device.name}: the repository at ${ctx.path} is gone${seen ? ' (another repository is there now)' : ''}`, { hint: GONE_HINT });
    }
    if (announce && step !== 'open') opts.onEvent?.({ type: 'step', name: device.name, step });
    ctx.repo = await Repository.open(new LocalBackend(ctx.path), password);
    return ctx.repo;
  };
  const done = (step: RunStep, message: string) => opts.onEvent?.({ type: 'step-done', name: device.name, step, message });
  const locked = async <T>(repo: Repository, exclusive: boolean, fn: (lock: Lock) => Promise<T>): Promise<T> => {
    const lock = await lockRepository(repo, exclusive); // real time: locks are about live processes, not the injected clock
    try {
      return await fn(lock);
    } finally {
      await lock.release().catch(() => undefined);
    }
  };

  // open: the passphrase, the id, and what the device and this host already know
  password = await opts.password(device);
  let repo = await open('open');
  if (repo.config.id !== device.id) throw new FlashbackError('ERR_INVALID', `the repository at ${ctx.path} is not device ${device.name}`);
  const host = (await opts.state.load()).devices[device.id];
  const note = await loadStatusNote(repo);
  ctx.facts = mergeFacts(mergeFacts({ ...ctx.facts, time: new Date(0).toISOString() }, host), note.note as DeviceFacts | undefined) ?? ctx.facts;
  ctx.facts.hostname = opts.hostname;
  ctx.saveNote = async (facts) => {
    // never into another repository that took this device's place
    if ((await probe(ctx.path))?.id !== device.id) throw new FlashbackError('ERR_IO', `the repository at ${ctx.path} is gone`, { hint: GONE_HINT });
    await saveStatusNote(repo, { version: 1, ...facts });
  };

  // backup
  const b = cfg.backup;
  if (!b.paths.length) throw new FlashbackError('ERR_INVALID', 'nothing to back up: [backup] paths is empty', { hint: 'list the directories to back up in the configuration file ("flashback config" shows where it is)' });
  const patterns = [...b.excludeFile.flatMap((f) => readExcludeFile(expandPath(f, opts.env))), ...b.exclude];
  repo = await open('backup', false);
  let warned = 0;
  const archiver = new Archiver(repo, {
    paths: b.paths.map((p) => expandPath(p, opts.env)),
    excluder: patterns.length ? new Excluder(patterns) : undefined,
    followSymlinks: b.followSymlinks,
    oneFileSystem: b.oneFileSystem,
    excludeCaches: b.excludeCaches,
    host: b.host ?? opts.hostname,
    time: opts.now(),
    signal: opts.signal,
    warn: (w) => {
      if (warned++ < 20) opts.onEvent?.({ type: 'warning', name: device.name, message: `${w.path}: ${w.message}` });
    },
  });
  opts.onEvent?.({ type: 'step', name: device.name, step: 'backup', progress: () => archiver.state });
  const backup = await locked(repo, false, () => archiver.run());
  ctx.result.snapshot = backup.id;
  ctx.result.filesUnreadable = backup.summary.errors;
  ctx.facts.last_backup = backup.snapshot.time;
  ctx.facts.last_snapshot = backup.id;
  done('backup', `snapshot ${backup.id.slice(0, 8)} saved: ${backup.summary.files_new} new, ${backup.summary.files_changed} changed files, ${backup.summary.data_added_packed} bytes stored${backup.summary.errors ? `; ${backup.summary.errors} file(s) could not be read` : ''}`);

  // forget + prune, under one exclusive lock
  if (!policyIsEmpty(cfg.retention)) {
    repo = await open('forget');
    await locked(repo, true, async (lock) => {
      const mine = filterSnapshots(await repo.snapshots.list((file, err) => opts.onEvent?.({ type: 'warning', name: device.name, message: `${file}: ${err.message} (left alone)` })), { hosts: [b.host ?? opts.hostname] });
      const plan = planForget(mine, cfg.retention, { groupBy: ['host', 'paths'], now: opts.now(), timeZone: opts.timeZone });
      if (groupsKeepingNothing(plan).length) throw new FlashbackError('ERR_INVALID', 'the retention policy keeps no snapshot of a group', { hint: 'check [retention] in the configuration file' });
      ctx.result.forgotten = await executeForget(repo.snapshots, plan, { signal: opts.signal });
      done('forget', `removed ${ctx.result.forgotten} snapshot(s) by the retention policy`);
      ctx.step = 'prune';
      await opts.beforeStep?.(device.name, 'prune');
      opts.onEvent?.({ type: 'step', name: device.name, step: 'prune' });
      const pruneOpts = { maxUnused: parseMaxUnusedValue(cfg.prune.maxUnused), maxRepackBytes: cfg.prune.maxRepackSize ? parseSizeValue(cfg.prune.maxRepackSize) : undefined, signal: opts.signal };
      const pplan = await planPrune(repo, pruneOpts);
      const pr = await executePrune(repo, pplan, lock, pruneOpts);
      ctx.result.prunedBytes = pr.deletedBytes;
      for (const dmg of pr.damaged) ctx.result.problems.push(errorFacts(new FlashbackError('ERR_DAMAGED', `prune: ${dmg.message}; that pack was left as it is`, { hint: 'run "flashback check --read-data" on this device' }), 'prune', opts.now()));
      if (pr.stoppedForSpace) ctx.result.problems.push(errorFacts(new FlashbackError('ERR_DEVICE_FULL', `prune: not enough free space to repack ${pr.stoppedForSpace.packs} pack(s)`, { hint: 'free some space, or set [prune] max_unused = "unlimited"' }), 'prune', opts.now()));
      done('prune', `deleted ${pr.deletedPacks} pack(s), ${pr.deletedBytes} bytes; repacked ${pr.repackedPacks}`);
    });
  }

  // scrub a slice
  if (cfg.scrub.maxDuration > 0) {
    repo = await open('scrub', false);
    const checker = new Checker(repo, { readData: true, maxDuration: cfg.scrub.maxDuration, now: () => opts.now().getTime(), signal: opts.signal });
    opts.onEvent?.({ type: 'step', name: device.name, step: 'scrub', progress: () => ({ files: checker.state.packs, bytes: checker.state.bytes, totalFiles: checker.state.totalPacks || undefined, totalBytes: checker.state.totalBytes || undefined }) });
    const c = await locked(repo, false, () => checker.run());
    if (c.interrupted) throw new FlashbackError('ERR_INTERRUPTED', 'interrupted during the scrub (what was verified is recorded)');
    ctx.result.scrubbedPacks = c.packsRead;
    ctx.facts.scrub = scrubFacts(c.scrub);
    if (c.problems.length || c.scrub.damaged) {
      ctx.result.problems.push(errorFacts(new FlashbackError('ERR_DAMAGED', `check found ${c.problems.length || c.scrub.damaged} problem(s): the repository is damaged`, { hint: `run "flashback -r ${ctx.path} check --read-data", then repair (docs/maintenance.md)` }), 'scrub', opts.now()));
    }
    done('scrub', `verified ${c.packsRead} pack(s); ${c.scrub.packs} of ${c.scrub.totalPacks} packs verified so far`);
  }

  // record: sizes and counts (the note and the host state are written by the caller, also after a failure)
  repo = await open('record');
  ctx.facts.snapshots = (await repo.snapshots.list(() => undefined)).length;
  ctx.facts.used_bytes = await usedBytes(repo);
  ctx.facts.free_bytes = await repo.backend.freeSpace();
}

export function errorFacts(err: unknown, step: RunStep, time: Date): ErrorFacts {
  const f: ErrorFacts = { time: time.toISOString(), step, code: err instanceof FlashbackError ? err.code : 'ERR_UNEXPECTED', message: errorMessage(err) };
  if (err instanceof FlashbackError && err.hint) f.hint = err.hint;
  return f;
}

export function scrubFacts(c: Coverage): ScrubFacts {
  return { packs: c.packs, total_packs: c.totalPacks, bytes: c.bytes, total_bytes: c.totalBytes, oldest: c.oldest === undefined ? null : new Date(c.oldest).toISOString(), never_verified: c.neverVerified, damaged: c.damaged };
}

async function usedBytes(repo: Repository): Promise<number> {
  let n = (await repo.backend.stat('config', 'config')).size;
  for (const t of ['keys', 'snapshots', 'index', 'data', 'locks', 'scrub', 'status'] as FileType[]) for await (const f of repo.backend.list(t)) n += f.size;
  return n;
}
