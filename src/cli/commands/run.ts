/** run [DEVICE...]: back up, forget + prune, scrub a slice and record, on every connected registered device. */
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { runDevices, type DeviceResult, type RunEvent, type RunResult } from '../../core/devices/run.js';
import { EXIT } from '../exit.js';
import { createProgress, formatBytes, type Progress, type ProgressState } from '../progress.js';
import type { Printer } from '../printer.js';
import { addConfigOption, clock, loadRotation, passwordProvider, type ConfigFlag } from '../rotation.js';
import type { Ctx } from '../main.js';
import type { FlashbackConfig } from '../../core/devices/config.js';
import type { HostEnv } from '../../core/devices/paths.js';
import type { StateStore } from '../../core/devices/state.js';
import { FlashbackError } from '../../core/errors/errors.js';

const VERB: Record<string, string> = { backup: 'backing up', forget: 'applying the retention policy', prune: 'pruning', scrub: 'scrubbing', record: 'recording the result' };

function notify(summary: string, body: string): void {
  if (spawnSync('sh', ['-c', 'command -v notify-send'], { stdio: 'ignore' }).status !== 0) return;
  const child = spawn('notify-send', ['--app-name=Flashback', summary, body], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

/** Prints the run as it goes: a line per step, a progress line while a step has one, the end of each device. */
export function eventPrinter(out: Printer, notifyOn: boolean): (e: RunEvent) => void {
  let progress: { p: Progress; timer: NodeJS.Timeout; state: () => ProgressState } | undefined;
  const stop = () => {
    if (!progress) return;
    clearInterval(progress.timer);
    progress.p.done();
    progress = undefined;
  };
  return (e) => {
    if (e.type === 'device-start') out.info(`${e.name}: connected at ${e.path}`);
    else if (e.type === 'step') {
      stop();
      out.info(`${e.name}: ${VERB[e.step] ?? e.step}…`);
      if (e.progress) {
        const state = e.progress;
        const p = createProgress(`${e.name} ${e.step}`, { stream: process.stderr, quiet: out.quiet, json: out.json });
        progress = { p, state, timer: setInterval(() => p.update(state()), 125) };
      }
    } else if (e.type === 'step-done') {
      stop();
      out.info(`${e.name}: ${e.message}`);
    } else if (e.type === 'warning') out.warn(`${e.name}: ${e.message}`);
    else if (e.type === 'device-done') {
      stop();
      const r = e.result;
      if (r.status === 'ok' || r.status === 'partial') out.info(`${r.name}: done — you can remove it now`);
      else {
        const err = r.error ?? r.problems[0];
        process.stderr.write(`${r.name}: FAILED${err ? ` (${err.step}): ${err.message}` : ''}\n${err?.hint ? `  hint: ${err.hint}\n` : ''}`);
        if (r.status === 'failed' && r.path) out.info(`${r.name}: stopped — you can remove it now`);
      }
      if (notifyOn) notify(r.status === 'ok' || r.status === 'partial' ? `${r.name}: backup done` : `${r.name}: backup FAILED`, r.status === 'ok' || r.status === 'partial' ? 'You can remove the device now.' : (r.error ?? r.problems[0])?.message ?? '');
    }
  };
}

export function summaryLine(r: DeviceResult): string {
  switch (r.status) {
    case 'absent':
      return 'not connected';
    case 'skipped':
      return 'skipped (interrupted)';
    case 'ambiguous':
      return `NOT RUN: found at ${r.paths?.join(' and ')}`;
    default: {
      const parts: string[] = [];
      if (r.snapshot) parts.push(`snapshot ${r.snapshot.slice(0, 8)}`);
      if (r.forgotten !== undefined) parts.push(`${r.forgotten} forgotten`);
      if (r.prunedBytes !== undefined) parts.push(`${formatBytes(r.prunedBytes)} freed`);
      if (r.scrubbedPacks !== undefined) parts.push(`${r.scrubbedPacks} pack(s) scrubbed`);
      if (r.filesUnreadable) parts.push(`${r.filesUnreadable} file(s) unreadable`);
      const err = r.error ?? r.problems[0];
      const head = r.status === 'failed' ? `FAILED (${err?.step}: ${err?.message})` : r.status === 'partial' ? 'done, incomplete' : 'ok';
      return [head, ...parts].join(', ');
    }
  }
}

/** runDevices with what the CLI supplies: zone, host name, passphrases (prompting unless unattended), Ctrl-C. */
export function runWith(
  ctx: Ctx,
  o: { env: HostEnv; config: FlashbackConfig; state: StateStore; names: string[]; now: () => Date; unattended: boolean; onEvent: (e: RunEvent) => void },
): Promise<RunResult> {
  const pw = passwordProvider(ctx.g(), o.config, o.env, o.unattended);
  return runDevices({
    config: o.config,
    env: o.env,
    state: o.state,
    names: o.names,
    now: o.now,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    hostname: hostname(),
    password: (d) =>
      pw(d, `enter passphrase for device ${d.name}: `) ??
      Promise.reject(new FlashbackError('ERR_NO_PASSWORD', `no unattended passphrase for ${d.name}`, { hint: 'set [password] command or file in the configuration file (docs/rotation.md)' })),
    signal: ctx.signal,
    onEvent: o.onEvent,
  });
}

export function exitCodeOfRun(r: RunResult, named: boolean): number {
  if (r.interrupted) return EXIT.interrupted;
  if (r.devices.some((d) => d.status === 'failed' || d.status === 'ambiguous' || (named && d.status === 'absent'))) return EXIT.error;
  if (r.devices.some((d) => d.status === 'partial')) return EXIT.partial;
  return EXIT.ok;
}

export function registerRun(program: Command, ctx: Ctx): void {
  addConfigOption(program.command('run'))
    .description('on every connected registered device (or the named ones): back up, apply retention, prune, scrub a slice, record the result')
    .argument('[device...]', 'only these registered devices')
    .option('--notify', 'send a desktop notification (notify-send) when each device is done')
    .action(async (names: string[], f: ConfigFlag & { notify?: boolean }) => {
      const out = ctx.out();
      const now = clock();
      const { env, loaded, state } = await loadRotation(f, out);
      const cfg = loaded.config;
      const result = await runWith(ctx, { env, config: cfg, state, names, now, unattended: false, onEvent: eventPrinter(out, !!f.notify) });
      const ran = result.devices.filter((d) => d.status !== 'absent');
      if (out.json) {
        out.jsonLine({ message_type: 'summary', devices: result.devices.map(({ facts, ...r }) => ({ ...r, facts: facts ?? null })), unregistered: result.unregistered, interrupted: result.interrupted });
      } else if (!cfg.devices.length) {
        out.info(`no device is registered (${loaded.file}); add one with "flashback device add NAME PATH"`);
      } else if (!ran.length && !names.length) {
        out.info('no registered device is connected; nothing to do');
      } else {
        out.info('');
        out.info('summary:');
        const w = Math.max(...result.devices.map((d) => d.name.length));
        for (const d of result.devices) out.info(`  ${d.name.padEnd(w)}  ${summaryLine(d)}`);
      }
      for (const u of result.unregistered) out.verbose(`not registered, not written: ${u.path}`);
      ctx.setExit(exitCodeOfRun(result, names.length > 0));
    });
}
