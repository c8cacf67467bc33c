import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { OperationFailedError } from '../../../shared/errors.ts';
import { writeFileAtomic } from '../../../shared/fs/atomic-write.ts';
import { openSession } from '../../bus/session.ts';
import { NatsServer } from '../../nats-server/server.ts';
import { readRuntime, writeNatsConfig } from '../../nats-server/sync.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { readPassphrase } from './init.ts';
import { freeLoopbackPort } from '../../../shared/net/free-port.ts';

const Flags = z.object({ state: z.string().optional(), port: z.coerce.number().int().min(0).max(65535).default(4222), passphraseFile: z.string().optional() });

/**
 * `onionfleet serve [--state DIR] [--port N]`: renders the NATS config (127.0.0.1 only, JetStream in
 * the state dir, one nkey user per enrolled device), runs the Debian nats-server as a child, creates
 * the buckets, and stops it cleanly on Ctrl-C or SIGTERM. `device add` makes it reload its users.
 */
export async function serveCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const running = await readRuntime(paths);
  if (running !== null) throw new OperationFailedError('nats-already-running', `a NATS server for ${paths.dir} already runs (pid ${running.pid}, ${running.url})`);
  const port = flags.port === 0 ? await freeLoopbackPort() : flags.port;
  await writeNatsConfig(paths, port);
  const server = await NatsServer.start({ configPath: paths.natsConfig, logFile: paths.natsLog });
  await writeFileAtomic(paths.natsRuntime, JSON.stringify({ url: server.url, port: server.port, pid: server.pid }), { mode: 0o600 });
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => {
      resolve('SIGINT');
    });
    process.once('SIGTERM', () => {
      resolve('SIGTERM');
    });
  });
  try {
    const session = await openSession(paths, await readPassphrase(flags.passphraseFile), { create: true });
    await session.close();
    ctx.output.out(`NATS with JetStream listening on ${server.url} (state ${paths.dir}); Ctrl-C stops it`);
    const why = await Promise.race([stopped, server.exited().then(() => 'exited')]);
    if (why === 'exited') throw new OperationFailedError('nats-server-exited', `nats-server exited unexpectedly (see ${paths.natsLog})`);
    ctx.output.err(`stopping on ${why}`);
  } finally {
    await rm(paths.natsRuntime, { force: true });
    await server.stop();
  }
}
