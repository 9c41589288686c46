/** config: where the configuration file is, and what is in effect (defaults filled in). */
import type { Command } from 'commander';
import { stringify } from 'smol-toml';
import { effectiveConfig } from '../../core/devices/effective.js';
import { addConfigOption, loadRotation, type ConfigFlag } from '../rotation.js';
import type { Ctx } from '../main.js';

export function registerConfig(program: Command, ctx: Ctx): void {
  addConfigOption(program.command('config'))
    .description('show where the configuration file is and the configuration in effect (docs/rotation.md)')
    .action(async (f: ConfigFlag) => {
      const out = ctx.out();
      const { loaded, state } = await loadRotation(f, out);
      const eff = effectiveConfig(loaded.config);
      if (out.json) {
        out.jsonLine({ config_file: loaded.file, exists: loaded.exists, state_file: state.file, config: eff });
        return;
      }
      out.line(`# configuration file: ${loaded.file}${loaded.exists ? '' : ' (does not exist: the defaults below are in effect)'}`);
      out.line(`# state file: ${state.file}`);
      out.line('# effective configuration, defaults filled in:');
      out.line();
      out.line(stringify(eff).trimEnd());
    });
}
