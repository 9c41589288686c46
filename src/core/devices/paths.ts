/**
 * Where the configuration and the host state live (docs/rotation.md §1, §2), and expansion of "~" and $USER
 * in configured paths. Pure: the environment comes in as a parameter.
 */
import { isAbsolute, join, resolve } from 'node:path';

export interface HostEnv {
  home: string;
  user: string;
  /** the process environment (XDG_*, FLASHBACK_CONFIG, FLASHBACK_STATE) */
  vars: Record<string, string | undefined>;
}

function xdg(env: HostEnv, name: string, fallback: string): string {
  const v = env.vars[name];
  return v && isAbsolute(v) ? v : join(env.home, fallback);
}

/** --config FILE, else $FLASHBACK_CONFIG, else $XDG_CONFIG_HOME/flashback/config.toml */
export function configPath(env: HostEnv, flag?: string): string {
  const given = flag ?? env.vars.FLASHBACK_CONFIG;
  if (given) return resolve(given);
  return join(xdg(env, 'XDG_CONFIG_HOME', '.config'), 'flashback', 'config.toml');
}

/** $FLASHBACK_STATE, else $XDG_STATE_HOME/flashback/state.json */
export function statePath(env: HostEnv): string {
  const given = env.vars.FLASHBACK_STATE;
  if (given) return resolve(given);
  return join(xdg(env, 'XDG_STATE_HOME', join('.local', 'state')), 'flashback', 'state.json');
}

/** "~" and "~/x" → the home directory; "$USER" and "${USER}" → the user name. */
export function expandPath(p: string, env: Pick<HostEnv, 'home' | 'user'>): string {
  let s = p.replace(/\$\{USER\}|\$USER\b/g, env.user);
  if (s === '~') s = env.home;
  else if (s.startsWith('~/')) s = join(env.home, s.slice(2));
  return s;
}
