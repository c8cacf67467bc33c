/**
 * `onionfleet-agent run`: the long-running agent. Reaches the controller's NATS (through an
 * in-process SOCKS tunnel to Tor when the address is an onion), hears its desired state from
 * `serve`'s gateway, opens each document (controller's signature, this device, not older than
 * applied), reconciles, and sends its status — after every change and as a heartbeat. Level-triggered:
 * on connect, on every reconnect and with every heartbeat it asks for its desired state unless it has
 * the newest revision, so a push lost in an outage costs nothing.
 */
import { join } from 'node:path';
import { EnvelopeError, open, refuseOlder, seal } from '#shared/crypto/envelope.ts';
import { InvalidInputError } from '#shared/errors.ts';
import type { Logger } from '#shared/log.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { DeviceLink } from '#shared/nats/device-link.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { SocksTunnel } from '#shared/tor/socks-tunnel.ts';
import type { ResolvedConfig } from './config.ts';
import { loadAgentSecrets } from './identity.ts';
import { prepareTorForNats } from './onion/nats-client-auth.ts';
import { hostOwners, noOwners } from './owners.ts';
import { readRecord, writeRecord } from './record.ts';
import { reconcile } from './reconcile/loop.ts';
import { describeStep, type Step } from './reconcile/steps.ts';
import type { ServiceManager } from './services/service-manager.ts';
import { buildStatus, type LastAttempt } from './status/report.ts';
import { selfProbeFor } from './probes/self-probe.ts';
import type { SystemActions } from './system.ts';
import { attemptOf, type Applier } from './applier/client.ts';

export interface RunOptions {
  readonly services: ServiceManager;
  readonly system: SystemActions;
  readonly signal: AbortSignal;
  /** The agent's logger (its lines carry the device; steps add `step` and `instance`). Never given a secret. */
  readonly log: Logger;
  /**
   * The privileged half, when it runs apart (agent/applier/: a root applier behind a socket, on a Pi):
   * tor's client key, every apply and the status's files go through it. Absent: all in this process.
   */
  readonly applier?: Applier;
  /** Read the device's keys here instead of the config's keysDir (systemd's credentials directory). */
  readonly keysDir?: string;
}

export async function runAgent(config: ResolvedConfig, options: RunOptions): Promise<void> {
  const { device, controller, nats } = config;
  if (device === undefined || controller === undefined || nats === undefined) {
    throw new InvalidInputError([{ source: 'agent config', message: 'needs "device", "controller" and "nats" to run (see the README: the agent config)' }]);
  }
  const secrets = await loadAgentSecrets(options.keysDir ?? join(config.root, config.keysDir));
  const { applier } = options;
  // With an applier the status reads the files it published (the view), not the root's.
  const statusConfig = applier === undefined ? config : { ...config, root: applier.statusRoot };
  if (secrets.device !== device) throw new InvalidInputError([{ source: 'agent config', path: 'device', message: `is "${device}" but the keys are "${secrets.device}"` }]);

  const url = new URL(nats.url.replace(/^nats:/, 'http:'));
  let tunnel: SocksTunnel | null = null;
  let servers = nats.url;
  if (url.hostname.endsWith('.onion')) {
    // The device's own key opens the NATS onion (a join token's one-time key may be there before it).
    const prepared = applier !== undefined ? await applier.prepareTor() : await prepareTorForNats({
      root: config.root, onHost: config.system === 'host', clientAuthDir: config.tor.clientAuthDir, socksPort: Number(config.tor.socks.split(':')[1] ?? 9050),
      onionHostname: url.hostname, privateKeyBase32: secrets.onionClientKey, owners: config.system === 'host' ? hostOwners() : noOwners, system: options.system,
    });
    if (prepared) options.log.info('wrote the NATS onion client key; tor reloaded');
    const [socksHost = '127.0.0.1', socksPort = '9050'] = nats.socks.split(':');
    tunnel = await SocksTunnel.open({ socks: { host: socksHost, port: Number(socksPort) }, target: { host: url.hostname, port: Number(url.port) }, onError: (e) => {
      options.log.warn({ reason: e.reason }, `tunnel: ${e.reason}`);
    } });
    servers = `nats://127.0.0.1:${tunnel.port}`;
  }
  const nc = await connectNats({ servers, nkeySeed: secrets.natsSeed, name: device, firstConnectDeadlineMs: Infinity, signal: options.signal });
  let link: DeviceLink | null = null;
  const binaryHashes = new Map<string, { size: number; mtimeMs: number; sha256: string | null }>();
  let last: LastAttempt = { desiredRevision: (await readRecord(statusConfig.root)).revision, error: null, blocked: [], converged: true };
  const selfProbe = selfProbeFor(config); // background onion probes through this device's tor (tor.selfProbe)
  const putStatus = async () => {
    const status = await buildStatus(statusConfig, device, options.services, last, selfProbe);
    const sealed = await seal({ kind: 'status', device, revision: status.appliedRevision, body: status }, { signingSecretKey: secrets.signingSecretKey, recipient: controller.ageRecipient });
    link?.sendStatus(sealed);
  };
  const handle = async (value: Uint8Array) => {
    try {
      if (applier !== undefined) {
        last = attemptOf(await applier.apply(value), last, options.log);
        return;
      }
      const { revision, body } = await open(value, { identity: secrets.ageIdentity, signer: controller.signingKey, kind: 'desired-state', device, schema: DesiredState });
      refuseOlder(revision, (await readRecord(config.root)).revision);
      const result = await reconcile(body, { config, services: options.services, system: options.system, binaryHashes, onStep: (step) => {
        options.log.info(stepBindings(step, revision), describeStep(step));
      } });
      last = { desiredRevision: revision, error: null, blocked: result.blocked, converged: result.converged && result.refused === null };
      if (result.steps.length > 0 || result.refused !== null) {
        if (result.refused !== null) options.log.warn({ revision, reasons: result.refused }, `refused revision ${revision}: the owner's limits`);
        else if (result.converged) options.log.info({ revision, steps: result.steps.length }, `converged on revision ${revision} (${result.steps.length} steps)`);
        else options.log.warn({ revision, blocked: result.blocked }, `not converged on revision ${revision}`);
      }
    } catch (err) {
      if (!(err instanceof EnvelopeError)) {
        last = { ...last, error: err instanceof Error ? err.message : String(err), converged: false };
        options.log.error({ revision: last.desiredRevision }, `apply failed: ${last.error ?? ''}`);
      } else {
        // Keep running the last good state; say why the document was refused.
        const record = await readRecord(config.root);
        await writeRecord(config.root, { ...record, refused: { revision: record.revision, reasons: [err.message] } });
        options.log.warn({ reason: err.reason }, `refused a desired state: ${err.reason}`);
      }
    }
  };

  // One thing at a time; of several documents waiting, only the newest matters.
  let queue: Promise<void> = Promise.resolve();
  let waiting: Uint8Array | null = null;
  let latest: Uint8Array | null = null;
  const enqueue = (value: Uint8Array | null) => {
    if (value !== null) {
      waiting = value;
      latest = value;
    }
    queue = queue.then(async () => {
      const next = waiting;
      waiting = null;
      if (next !== null) await handle(next);
      await putStatus().catch((err: unknown) => {
        options.log.warn(`status not sent: ${err instanceof Error ? err.message : String(err)}`);
      });
    });
  };

  // The KV revision of the last desired state heard (null: none yet): the gateway sends it again only when it changed.
  let heard: number | null = null;
  const opened = await DeviceLink.open(nc, device, (push) => {
    heard = push.revision;
    enqueue(push.value);
  }, (why) => { options.log.warn(`ignored a message from the gateway: ${why}`); });
  link = opened;
  options.log.info('connected to the controller\'s NATS');
  const regets = (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') opened.requestDesired(heard);
    }
  })();
  // The heartbeat reconciles again (level-triggered: a file edited or a service stopped by hand is
  // repaired; a no-op round costs milliseconds), re-sends the status, and asks for a newer desired state.
  const heartbeat = setInterval(() => {
    opened.requestDesired(heard);
    enqueue(latest);
  }, config.heartbeatSeconds * 1000);
  opened.requestDesired(null);
  enqueue(null); // the first status goes out at once, before any desired state arrives
  try {
    await Promise.race([new Promise((resolve) => { options.signal.addEventListener('abort', resolve, { once: true }); }), nc.closed()]);
  } finally {
    clearInterval(heartbeat);
    await queue;
    opened.close();
    await selfProbe?.close();
    await nc.close();
    await regets.catch(() => undefined);
    await tunnel?.close();
  }
}

/** A step's log bindings: what it does, to which instance or service, for which revision. */
function stepBindings(step: Step, revision: number): Record<string, string | number> {
  const bindings: Record<string, string | number> = { step: step.action, revision };
  if ('instance' in step && typeof step.instance === 'string') bindings.instance = step.instance;
  else if ('service' in step && typeof step.service === 'string') bindings.service = step.service;
  return bindings;
}
