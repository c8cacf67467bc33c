import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { processOutput } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { createLogger, lineStream } from '#shared/log.ts';
import { loadAgentConfig } from '../../config.ts';
import { runAgent } from '../../run.ts';
import { AGENT_STATE_DIR, socketApplier } from '../../applier/client.ts';
import { viewRoot } from '../../applier/view.ts';
import { Supervisor } from '../../services/supervisor.ts';
import { managersFor, RootFlags } from './shared.ts';

const Flags = z.object({ applier: z.string().regex(/^\//, { error: 'expected an absolute path' }).optional(), keys: z.string().min(1).optional(), ...RootFlags });

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
    const log = createLogger({ name: 'onionfleet-agent', base: config.device === undefined ? {} : { device: config.device }, stream: ctx.output === processOutput ? process.stderr : lineStream(ctx.output.err) });
    const applier = flags.applier === undefined ? {} : { applier: socketApplier(flags.applier, viewRoot(config.root), join(config.root, AGENT_STATE_DIR)) };
    await runAgent(config, { ...managers, signal: abort.signal, log, ...applier, ...(flags.keys === undefined ? {} : { keysDir: resolve(flags.keys) }) });
  } finally {
    abort.abort();
    await watching;
  }
}
