import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { Id } from '#shared/schema/common.ts';
import { loadAgentConfig } from '../../config.ts';
import { initAgentIdentity } from '../../identity.ts';
import { RootFlags } from './shared.ts';

const Flags = z.object({ device: Id, ...RootFlags });

/**
 * `onionfleet-agent init --device ID [--root DIR] [--config FILE]`: makes this device's keys (once;
 * kept on later runs) and prints its enrollment record — public halves only — for
 * `onionfleet device add --id ID --record FILE`.
 */
export async function initCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const { record, created } = await initAgentIdentity(join(config.root, config.keysDir), flags.device);
  ctx.output.out(toJson(record));
  ctx.output.err(created ? `made the keys of ${record.device} in ${join(config.root, config.keysDir)} (mode 0600)` : `kept the existing keys of ${record.device}`);
}
