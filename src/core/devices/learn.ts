/**
 * What `status` learns from connected devices: free space (no passphrase needed) and, when a passphrase can
 * be had without asking, the device note, merged into the host state (docs/rotation.md §2).
 */
import { LocalBackend } from '../backend/local.js';
import { errorMessage } from '../errors/errors.js';
import { Repository } from '../repository/repository.js';
import { loadStatusNote } from '../repository/status-note.js';
import type { DeviceEntry, FlashbackConfig } from './config.js';
import { mergeFacts, type DeviceFacts, type StateStore } from './state.js';

export interface LearnOptions {
  config: FlashbackConfig;
  state: StateStore;
  found: ReadonlyMap<string, string[]>;
  now: () => Date;
  /** undefined: notes are not read (no passphrase without a prompt) */
  password?: (d: DeviceEntry) => Promise<string | undefined>;
  warn: (message: string) => void;
}

export async function learnFromDevices(o: LearnOptions): Promise<void> {
  for (const d of o.config.devices) {
    const paths = o.found.get(d.id) ?? [];
    if (paths.length !== 1) continue;
    const backend = new LocalBackend(paths[0]);
    const free = await backend.freeSpace();
    let note: DeviceFacts | undefined;
    try {
      const pw = await o.password?.(d);
      if (pw !== undefined) {
        const repo = await Repository.open(backend, pw);
        const loaded = await loadStatusNote(repo);
        for (const w of loaded.warnings) o.warn(`${d.name}: ${w}`);
        note = loaded.note as DeviceFacts | undefined;
      }
    } catch (err) {
      o.warn(`${d.name}: could not read the device note: ${errorMessage(err)}`);
    }
    const time = o.now().toISOString();
    await o.state.update(d.id, (e) => {
      const merged = mergeFacts(e, note) ?? { time: new Date(0).toISOString(), hostname: '' }; // any real record is newer
      merged.last_seen_path = paths[0];
      merged.last_seen = time;
      if (free !== undefined) merged.free_bytes = free;
      return merged;
    });
  }
}
