import { resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { loadAgentConfig } from '../../config.ts';
import { runAgent } from '../../run.ts';
import { Supervisor } from '../../services/supervisor.ts';
import { managersFor, RootFlags } from './shared.ts';

const Flags = z.object({ ...RootFlags });

/** `onionfleet-agent run [--config FILE]`: connect, watch, reconcile, report — until SIGINT/SIGTERM. */
export async function runCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const abort = new AbortController();
  const stop = () => {
    abort.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const managers = managersFor(config);
  const watching = managers.services instanceof Supervisor ? managers.services.watch(abort.signal) : Promise.resolve();
  try {
    await runAgent(config, { ...managers, signal: abort.signal, log: (line) => {
      ctx.output.err(line);
    } });
  } finally {
    abort.abort();
    await watching;
  }
}
