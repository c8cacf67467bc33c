import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { loadAgentConfig } from '../../config.ts';
import { archivedEntries } from '../../reconcile/execute.ts';
import { PATHS } from '../../render/paths.ts';
import { RootFlags } from './shared.ts';

const Flags = z.object({ yes: z.boolean().default(false), ...RootFlags });

/**
 * `onionfleet-agent purge [--root DIR] --yes`: deletes the archive of retired instances (their
 * directories and onion keys). Without --yes it lists what would go and changes nothing.
 */
export async function purgeCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const entries = await archivedEntries(config.root);
  if (!flags.yes) {
    throw new InvalidInputError([{ source: '--yes', message: `required: purge deletes ${entries.length} archived instance(s) for good${entries.length ? ` (${entries.join(', ')})` : ''}` }]);
  }
  for (const entry of entries) await rm(join(config.root, PATHS.archive, entry), { recursive: true, force: true });
  ctx.output.out(flags.json ? toJson({ purged: entries }) : entries.length === 0 ? 'archive is empty' : `purged ${entries.join(', ')}`);
}
