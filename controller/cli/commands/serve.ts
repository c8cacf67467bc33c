import { mkdir, rm } from 'node:fs/promises';
import { createUser } from '@nats-io/nkeys';
import { z } from 'zod';
import { wholeNumber } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { openSession } from '../../bus/session.ts';
import { handleJoinRequest } from '../../enroll/join-handler.ts';
import { startGateway } from '../../gateway/gateway.ts';
import { NatsServer } from '../../nats-server/server.ts';
import { stopLeftBehind } from '../../nats-server/left-behind.ts';
import { moveStoreToControlAccount } from '../../nats-server/store-migration.ts';
import { loadSecrets } from '../../state/keys.ts';
import { readRuntime, writeNatsConfig } from '../../nats-server/sync.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { readTorConfigLines, startControllerTor, stopControllerTor } from '../../tor/controller-tor.ts';
import { watchSshOnions } from '../../tor/ssh-onion-keys.ts';
import type { TorProcess } from '../../tor/tor-process.ts';
import { statePassphrase } from '../passphrase.ts';
import { freeLoopbackPort } from '#shared/net/free-port.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { processOutput } from '#shared/cli/output.ts';
import { createLogger, lineStream } from '#shared/log.ts';

const Flags = z.object({
  state: z.string().optional(),
  port: wholeNumber(0, 65535, 'a TCP port').default(4222),
  passphraseFile: z.string().optional(),
  tor: z.boolean().default(false),
  torConfig: z.string().min(1).optional(),
});

/**
 * `onionfleet serve [--state DIR] [--port N]`: renders the NATS config (127.0.0.1 only, JetStream in
 * the state dir, one nkey user per enrolled device), runs the Debian nats-server as a child, creates
 * the buckets, and stops it cleanly on Ctrl-C or SIGTERM. `device add` makes it reload its users.
 * With `--tor` it also runs the controller's own tor, which publishes NATS as an onion service that
 * only enrolled devices (each with its own client key), open join tokens and the admin can open;
 * `--tor-config FILE` adds torrc lines (a private test network's).
 */
export async function serveCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const logger = createLogger({ name: 'onionfleet serve', stream: ctx.output === processOutput ? process.stderr : lineStream(ctx.output.err) });
  for (const line of await stopLeftBehind(paths)) logger.warn(line);
  const running = await readRuntime(paths);
  if (running !== null) throw new OperationFailedError('nats-already-running', `a NATS server for ${paths.dir} already runs (pid ${running.pid}, ${running.url})`);
  if (flags.torConfig !== undefined && !flags.tor) throw new InvalidInputError([{ source: 'flags', path: 'tor-config', message: 'needs --tor' }]);
  const torLines = flags.torConfig === undefined ? [] : await readTorConfigLines(flags.torConfig).catch((err: unknown) => {
    throw new InvalidInputError([{ source: flags.torConfig ?? '', message: `cannot read it: ${err instanceof Error ? err.message : String(err)}` }]);
  });
  // The passphrase is checked before anything starts; tor needs the state's secret keys.
  const secrets = await loadSecrets(paths, await statePassphrase(paths, flags.passphraseFile));
  const port = flags.port === 0 ? await freeLoopbackPort() : flags.port;
  if (await moveStoreToControlAccount(paths.natsStore)) logger.info('moved the JetStream store to the CONTROL account (buckets kept)');
  // The gateway's nkey lives only in this process; its public half goes into the config (and every re-render while serve runs).
  const gatewayKey = createUser();
  await mkdir(paths.nats, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.natsGatewayUser, `${gatewayKey.getPublicKey()}\n`, { mode: 0o644 });
  await writeNatsConfig(paths, port);
  const server = await NatsServer.start({ configPath: paths.natsConfig, logFile: paths.natsLog });
  // Written as soon as the server is ready: `device add` and the others reload it by this record's pid.
  await writeFileAtomic(paths.natsRuntime, JSON.stringify({ url: server.url, port: server.port, pid: server.pid, servePid: process.pid }), { mode: 0o600 });
  let tor: TorProcess | null = null;
  if (flags.tor) {
    try {
      tor = await startControllerTor(paths, { natsPort: server.port, extraLines: torLines, keys: secrets });
    } catch (err) {
      await rm(paths.natsRuntime, { force: true });
      await server.stop();
      throw err;
    }
    const started = tor;
    void started.waitBootstrapped().then(
      () => { logger.info('tor bootstrapped: the NATS onion is being published'); },
      (err: unknown) => { logger.error(`tor has not bootstrapped: ${err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)}`); },
    );
  }
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => {
      resolve('SIGINT');
    });
    process.once('SIGTERM', () => {
      resolve('SIGTERM');
    });
  });
  let closeBus = async (): Promise<void> => { /* nothing open yet */ };
  try {
    const log = (line: string): void => { logger.info(line); };
    const session = await openSession(paths, secrets.passphrase, { create: true, secrets });
    const gatewayNc = await connectNats({ servers: server.url, nkeySeed: gatewayKey.getSeed(), name: 'onionfleet-gateway', timeoutMs: 10_000, reconnect: false });
    const gateway = await startGateway({
      nc: gatewayNc, desired: session.desired, status: session.status, backups: session.backups, storeLogs: session.storeLogs, restores: session.restores, log: (line) => { logger.child({ part: 'gateway' }).warn(line); },
      onJoin: (token, data, send) => handleJoinRequest(paths, session, token, data, send, log),
    }).catch(async (err: unknown) => { await gatewayNc.close(); throw err; });
    const torRunning = tor;
    const sshKeys = torRunning === null ? null : await watchSshOnions(paths, session, () => torRunning.reload(), log);
    closeBus = async () => { await sshKeys?.stop(); await gateway.stop(); await gatewayNc.close(); await session.close(); };
    // Announced only now: the server answers, the buckets exist and the gateway listens to the parties.
    ctx.output.out(`NATS with JetStream listening on ${server.url} (state ${paths.dir}); Ctrl-C stops it`);
    if (tor !== null) ctx.output.out(`published as an onion service with client authorization (tor pid ${tor.pid}, SOCKS 127.0.0.1:${tor.socksPort ?? 0}); agents dial the address in ${paths.natsOnionHostname}`);
    const why = await Promise.race([stopped, server.exited().then(() => 'exited'), ...(tor === null ? [] : [tor.exited().then(() => 'tor-exited')])]);
    if (why === 'tor-exited') throw new OperationFailedError('tor-exited', `the controller's tor exited unexpectedly (see ${paths.tor}/notice.log)`);
    if (why === 'exited') throw new OperationFailedError('nats-server-exited', `nats-server exited unexpectedly (see ${paths.natsLog})`);
    logger.info(`stopping on ${why}`);
  } finally {
    await closeBus();
    if (tor !== null) await stopControllerTor(paths, tor);
    await rm(paths.natsRuntime, { force: true });
    await rm(paths.natsGatewayUser, { force: true });
    await server.stop();
  }
}
