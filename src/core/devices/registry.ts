/**
 * The device registry: the [devices.NAME] tables of the configuration file (docs/rotation.md §4). Edits are
 * line edits of those tables only, so the user's comments and layout elsewhere survive; every edit is parsed
 * again and checked before it is written (atomically). A registry the line edits cannot handle (devices
 * written as inline tables, say) is refused with a hint rather than rewritten.
 */
import { FlashbackError } from '../errors/errors.js';
import { parseConfigText, type DeviceEntry, type FlashbackConfig } from './config.js';
import { isDeviceName } from './names.js';
import { formatInterval } from './interval.js';

export function checkNewName(cfg: FlashbackConfig, name: string): void {
  if (!isDeviceName(name)) {
    throw new FlashbackError('ERR_USAGE', `invalid device name "${name}"`, { hint: 'use 1-32 letters, digits, "-" or "_", starting with a letter or digit' });
  }
  if (cfg.devices.some((d) => d.name.toLowerCase() === name.toLowerCase())) {
    throw new FlashbackError('ERR_INVALID', `a device named "${name}" is already registered`, { hint: 'choose another name, or "flashback device list"' });
  }
}

export function findDevice(cfg: FlashbackConfig, name: string): DeviceEntry {
  const d = cfg.devices.find((x) => x.name === name);
  if (!d) {
    const known = cfg.devices.map((x) => x.name).join(', ');
    throw new FlashbackError('ERR_USAGE', `no device named "${name}" is registered`, { hint: known ? `registered devices: ${known}` : 'register one with "flashback device add NAME PATH"' });
  }
  return d;
}

const quote = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string

function headerRe(name: string): RegExp {
  return new RegExp(`^\\s*\\[\\s*devices\\s*\\.\\s*(?:${name}|"${name}")\\s*\\](\\s*#.*)?$`);
}

/** [start, end) of the lines of the table of `name`: its header up to its last key line (and one blank). */
function span(lines: string[], name: string): [number, number] | undefined {
  const start = lines.findIndex((l) => headerRe(name).test(l));
  if (start < 0) return undefined;
  let next = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^\s*\[/.test(lines[i])) {
      next = i;
      break;
    }
  }
  let last = start;
  for (let i = start + 1; i < next; i++) if (lines[i].trim() !== '' && !lines[i].trim().startsWith('#')) last = i;
  let end = last + 1;
  if (end < lines.length && lines[end].trim() === '' && end < next) end++;
  return [start, end];
}

function verified(text: string, file: string, expect: (cfg: FlashbackConfig) => boolean): string {
  let ok = false;
  try {
    ok = expect(parseConfigText(text, file));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new FlashbackError('ERR_INVALID', `cannot edit the device tables of ${file} safely`, {
      hint: 'write each device as its own [devices.NAME] table (docs/rotation.md §1), or edit the file by hand',
    });
  }
  return text;
}

export function addDeviceText(text: string, file: string, d: DeviceEntry): string {
  const block = [`[devices.${d.name}]`, `id = ${quote(d.id)}`, `family = ${quote(d.family)}`];
  if (d.path) block.push(`path = ${quote(d.path)}`);
  if (d.refresh !== undefined) block.push(`refresh = ${quote(formatInterval(d.refresh))}`);
  const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  const sep = base === '' || base.endsWith('\n\n') ? '' : '\n';
  const out = `${base}${sep}${block.join('\n')}\n`;
  return verified(out, file, (c) => c.devices.some((x) => x.name === d.name && x.id === d.id));
}

export function removeDeviceText(text: string, file: string, name: string): string {
  const lines = text.split('\n');
  const s = span(lines, name);
  const out = s ? [...lines.slice(0, s[0]), ...lines.slice(s[1])].join('\n') : text;
  return verified(out, file, (c) => !c.devices.some((x) => x.name === name));
}

export function renameDeviceText(text: string, file: string, from: string, to: string, id: string): string {
  const lines = text.split('\n');
  const s = span(lines, from);
  if (s) lines[s[0]] = lines[s[0]].replace(headerRe(from), (_m, comment: string | undefined) => `[devices.${to}]${comment ?? ''}`);
  return verified(lines.join('\n'), file, (c) => c.devices.some((x) => x.name === to && x.id === id) && !c.devices.some((x) => x.name === from));
}
