/**
 * What the rotation commands (config, device, status, run) read from the process, in one place: the
 * environment, home and user, the clock (FLASHBACK_NOW, for tests), the configuration and state files, and
 * the passphrase sources (docs/rotation.md §1: flags, FLASHBACK_PASSWORD*, the device, [password], a prompt).
 */
import { homedir, userInfo } from 'node:os';
import type { Command } from 'commander';
import type { DeviceEntry, FlashbackConfig } from '../core/devices/config.js';
import { loadConfig, type LoadedConfig } from '../core/devices/files.js';
import { configPath, expandPath, statePath, type HostEnv } from '../core/devices/paths.js';
import { StateStore } from '../core/devices/state.js';
import type { GlobalOptions } from './context.js';
import { UsageError } from './exit.js';
import { readNewPassword, readPassword, type PasswordOptions } from './password.js';
import type { Printer } from './printer.js';

export interface ConfigFlag {
  config?: string;
}

export function addConfigOption(cmd: Command): Command {
  return cmd.option('--config <file>', 'configuration file (or FLASHBACK_CONFIG; default $XDG_CONFIG_HOME/flashback/config.toml)');
}

export function hostEnv(): HostEnv {
  let user = process.env.USER ?? '';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep $USER
  }
  return { home: homedir(), user, vars: process.env };
}

export async function loadRotation(f: ConfigFlag, out: Printer): Promise<{ env: HostEnv; loaded: LoadedConfig; state: StateStore }> {
  const env = hostEnv();
  const loaded = await loadConfig(configPath(env, f.config));
  return { env, loaded, state: new StateStore(statePath(env), (m) => out.warn(m)) };
}

/** The clock: real time, or FLASHBACK_NOW (ISO 8601) as the starting point of a clock that ticks. */
export function clock(env: NodeJS.ProcessEnv = process.env): () => Date {
  const v = env.FLASHBACK_NOW;
  if (!v) return () => new Date();
  const start = Date.parse(v);
  if (!Number.isFinite(start)) throw new UsageError(`invalid FLASHBACK_NOW "${v}"`, 'use ISO 8601, e.g. 2024-05-01T10:00:00Z');
  const t0 = Date.now();
  return () => new Date(start + (Date.now() - t0));
}

/** The passphrase source for a device, by precedence; `interactive` when only a prompt is left. */
export function passwordSource(g: GlobalOptions, cfg: FlashbackConfig, env: HostEnv, d?: DeviceEntry): { opts: PasswordOptions; interactive: boolean } {
  const vars = env.vars;
  if (g.passwordCommand || g.passwordFile) return { opts: { passwordCommand: g.passwordCommand, passwordFile: g.passwordFile, env: {} }, interactive: false };
  if (vars.FLASHBACK_PASSWORD_COMMAND || vars.FLASHBACK_PASSWORD_FILE || vars.FLASHBACK_PASSWORD) return { opts: { env: vars }, interactive: false };
  const file = (p: string | undefined) => (p ? expandPath(p, env) : undefined);
  if (d?.passwordCommand || d?.passwordFile) return { opts: { passwordCommand: d.passwordCommand, passwordFile: file(d.passwordFile), env: {} }, interactive: false };
  if (cfg.password.command || cfg.password.file) return { opts: { passwordCommand: cfg.password.command, passwordFile: file(cfg.password.file), env: {} }, interactive: false };
  return { opts: { env: {} }, interactive: true };
}

/** Asks each source once: devices sharing a source share the answer. Never stores a passphrase on disk. */
export function passwordProvider(g: GlobalOptions, cfg: FlashbackConfig, env: HostEnv, onlyNonInteractive = false) {
  const cache = new Map<string, Promise<string>>();
  return (d: DeviceEntry | undefined, prompt: string): Promise<string> | undefined => {
    const src = passwordSource(g, cfg, env, d);
    if (src.interactive && onlyNonInteractive) return undefined;
    const key = JSON.stringify([src.opts.passwordCommand, src.opts.passwordFile, src.opts.env === env.vars, src.interactive ? d?.name : '']);
    let p = cache.get(key);
    if (!p) {
      p = readPassword(src.opts, prompt);
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return p;
  };
}

export function newPassword(g: GlobalOptions, cfg: FlashbackConfig, env: HostEnv, prompt: string): Promise<string> {
  return readNewPassword(passwordSource(g, cfg, env).opts, prompt);
}
