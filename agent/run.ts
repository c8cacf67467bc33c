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
import { RevisionGuard } from './rollout/guard.ts';
import { describeStep, type Step } from './reconcile/steps.ts';
import type { ServiceManager } from './services/service-manager.ts';
import { buildStatus, type LastAttempt } from './status/report.ts';
import { selfProbeFor } from './probes/self-probe.ts';
import { MetricsCollector } from './metrics/collector.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { DESIRED_COPY } from './reconcile/loop.ts';
import { BackupSender } from './backup/sender.ts';
import type { SystemActions } from './system.ts';
import { attemptOf, type Applier } from './applier/client.ts';
import { heartbeatRequest, refreshDue } from './applier/heartbeat.ts';
import { carriesBase, type ApplierAnswer } from './applier/protocol.ts';
import { downloadStage, RestoreDownloader } from './restore/download.ts';
import { watchHoldFallback } from './hold/fallback.ts';
import { releaseByController, releaseByUptime } from './hold/release.ts';

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

  // The boot hold's fallback (agent/hold/): started before anything is reached, which may never be.
  let afterRelease: (answer: ApplierAnswer | null) => void = () => undefined;
  watchHoldFallback({ root: config.root, log: options.log, signal: options.signal, release: async () => {
    if (applier !== undefined) {
      const answer = await applier.release();
      if (answer.kind !== 'applied') {
        options.log.info(`boot hold: nothing released (${answer.kind === 'rejected' || answer.kind === 'failed' ? answer.message : answer.kind})`);
        return false;
      }
      afterRelease(answer);
      return true;
    }
    const due = await releaseByUptime(config.root, options.log);
    if (due.kind === 'rejected') return false;
    await reconcile(due.opened.body, { config, services: options.services, system: options.system });
    afterRelease(null);
    return true;
  } });

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
  let downloader: RestoreDownloader | null = null;
  const partKeys = { identity: secrets.ageIdentity, signer: controller.signingKey, device };
  const binaryHashes = new Map<string, { size: number; mtimeMs: number; sha256: string | null }>();
  let last: LastAttempt = { desiredRevision: (await readRecord(statusConfig.root)).revision, error: null, blocked: [], converged: true };
  const selfProbe = selfProbeFor(config); // background onion probes through this device's tor (tor.selfProbe)

  // Sealed backups of the instances whose groups allow identity copies (docs/continuity.md).
  const backups = new BackupSender({ root: config.root, device, signingSecretKey: secrets.signingSecretKey, log: options.log, send: (slot, sealed) => { link?.sendBackup(slot, sealed); } });
  await backups.rememberLastApplied(); // a restarted agent still seals the final backup of an instance that leaves
  // Behind an applier the backups are sealed there (root reads the identity files): its last answer's backup age.
  let applierBackupAge: { seconds: number | null; at: number } = { seconds: null, at: 0 };
  const backupAge = (now: number): number | null => {
    if (applier === undefined) return backups.backupAgeSeconds(new Date(now));
    const { seconds, at } = applierBackupAge;
    return seconds === null || seconds === 0 ? seconds : seconds + Math.max(0, now - at) / 1000;
  };
  // Behind an applier the metrics files are read from its view and the textfile written below the real root.
  const metrics = new MetricsCollector(statusConfig.root, config.metrics.textfileDir, backupAge, config.root);
  // agent/rollout/guard.ts: going back by itself (behind an applier its files are in the agent's own state dir).
  const guard = await RevisionGuard.open(applier === undefined ? config.root : applier.stateRoot, config.revertAfterSeconds);
  let lastHealthy = false; // the last status: converged, no error, every instance healthy
  let probationTimer: NodeJS.Timeout | undefined;
  const putStatus = async () => {
    const status = { ...(await buildStatus(statusConfig, device, options.services, last, selfProbe)), reverted: guard.reverted() };
    const desiredNow = await loadJson(join(statusConfig.root, DESIRED_COPY), DesiredState, 'a desired state').catch(() => null);
    try {
      status.metrics = await metrics.collect(desiredNow?.instances ?? [], status.instances, Date.now());
    } catch (err) {
      options.log.warn(`metrics not collected: ${err instanceof Error ? err.message : String(err)}`);
    }
    lastHealthy = status.converged && status.error === null && status.instances.every((i) => i.healthy);
    const sealed = await seal({ kind: 'status', device, revision: status.appliedRevision, body: status }, { signingSecretKey: secrets.signingSecretKey, recipient: controller.ageRecipient });
    link?.sendStatus(sealed);
    return status;
  };
  const goBack = async (good: DesiredState) => {
    options.log.warn({ revision: last.desiredRevision, to: good.revision, reason: guard.reverted()?.reason }, `going back to revision ${good.revision} by itself`);
    if (applier !== undefined) {
      // The applier goes back to the last good state it noted itself, not to a document from here.
      const answer = await applier.revert(good.revision);
      fromApplier(answer);
      if (answer.kind === 'applied') last = { ...last, error: null, blocked: answer.blocked, converged: answer.converged };
      else options.log.error({ to: good.revision }, `the applier did not go back: ${answer.kind === 'rejected' || answer.kind === 'failed' ? answer.message : answer.kind}`);
      return;
    }
    const result = await reconcile(good, { config, services: options.services, system: options.system, binaryHashes });
    last = { ...last, error: null, blocked: result.blocked, converged: result.converged };
  };
  // Behind an applier: what its answers carry besides the attempt (backups to send, the backup age).
  let lastApplierAt = 0;
  // The bus came back since the last store-log base the applier sealed: ask it for new bases (protocol.ts, carriesBase).
  let rebaseWanted = false;
  const fromApplier = (answer: ApplierAnswer) => {
    lastApplierAt = Date.now();
    if (answer.kind !== 'applied' && answer.kind !== 'refreshed') return;
    if (carriesBase(answer.backups)) rebaseWanted = false;
    for (const b of answer.backups) link?.sendBackup(b.slot, new Uint8Array(Buffer.from(b.sealed, 'base64')));
    applierBackupAge = { seconds: answer.backupAgeSeconds, at: Date.now() };
  };
  // The last document the applier made the device match, and when (a no-op heartbeat may skip it).
  let appliedBytes: Uint8Array | null = null;
  let appliedAt = 0;
  const sameAsApplied = (value: Uint8Array) => appliedBytes !== null && Buffer.from(appliedBytes).equals(value);
  let trying: number | null = null;
  const handle = async (value: Uint8Array) => {
    trying = null;
    try {
      let opened: { revision: number; body: DesiredState };
      try {
        opened = await open(value, { identity: secrets.ageIdentity, signer: controller.signingKey, kind: 'desired-state', device, schema: DesiredState });
        refuseOlder(opened.revision, (await readRecord(statusConfig.root)).revision);
      } catch (err) {
        if (applier === undefined || !(err instanceof EnvelopeError)) throw err;
        // The applier opens it too, refuses it and records why (the status's `refused`); once per document.
        if (sameAsApplied(value)) {
          await refreshIfDue(applier);
          return;
        }
        const answer = await applier.apply(value, { rebase: rebaseWanted });
        fromApplier(answer);
        last = attemptOf(answer, last, options.log);
        appliedBytes = value;
        appliedAt = Date.now();
        return;
      }
      const { revision, body } = opened;
      if (guard.refuses(revision)) {
        last = { ...last, desiredRevision: revision, error: null };
        if (applier !== undefined) await refreshIfDue(applier);
        return; // it went back from this revision by itself: it keeps its last good state until a newer one comes
      }
      // Store logs too large for the document come as downloads, before the restore needs them (agent/restore/).
      await downloader?.fetch(body);
      guard.begin(body);
      trying = revision;
      clearTimeout(probationTimer);
      const wait = guard.untilDeadline();
      if (wait !== null) probationTimer = setTimeout(() => { enqueue(null); }, wait + 100);
      if (applier !== undefined) {
        await applyThrough(applier, value, revision);
        return;
      }
      await releaseByController(config.root, revision, options.log); // behind an applier, the applier does it
      backups.remember(body);
      const restarted: string[] = [];
      const started = performance.now();
      const result = await reconcile(body, { config, services: options.services, system: options.system, binaryHashes, beforeArchive: (instance) => backups.final(instance), onStep: (step) => {
        if (step.action === 'restartService') restarted.push(step.instance);
        options.log.info(stepBindings(step, revision), describeStep(step));
      } });
      metrics.recordReconcile((performance.now() - started) / 1000, restarted);
      if (result.converged) await backups.tick(body, new Date());
      last = { desiredRevision: revision, error: null, blocked: result.blocked, converged: result.converged && result.refused === null };
      if (result.steps.length > 0 || result.refused !== null) {
        if (result.refused !== null) options.log.warn({ revision, reasons: result.refused }, `refused revision ${revision}: the owner's limits`);
        else if (result.converged) options.log.info({ revision, steps: result.steps.length }, `converged on revision ${revision} (${result.steps.length} steps)`);
        else options.log.warn({ revision, blocked: result.blocked }, `not converged on revision ${revision}`);
      }
    } catch (err) {
      if (!(err instanceof EnvelopeError)) {
        last = { ...last, error: err instanceof Error ? err.message : String(err), converged: false };
        if (trying !== null) guard.failed(trying, last.error ?? '');
        options.log.error({ revision: last.desiredRevision }, `apply failed: ${last.error ?? ''}`);
      } else {
        // Keep running the last good state; say why the document was refused.
        const record = await readRecord(config.root);
        await writeRecord(config.root, { ...record, refused: { revision: record.revision, reasons: [err.message] } });
        options.log.warn({ reason: err.reason }, `refused a desired state: ${err.reason}`);
      }
    }
  };

  /** Behind an applier with nothing to apply: a fresh view (metrics files) and the due backups, once per metrics interval. */
  const refreshIfDue = async (to: Applier) => {
    if (refreshDue({ sinceApplierMs: Date.now() - lastApplierAt, metricsIntervalSeconds: config.metrics.intervalSeconds })) fromApplier(await to.refresh({ rebase: rebaseWanted }));
  };
  /** The apply behind an applier; a heartbeat with nothing new may skip it (agent/applier/heartbeat.ts). */
  const applyThrough = async (to: Applier, value: Uint8Array, revision: number) => {
    const now = Date.now();
    const request = heartbeatRequest({
      sameDocument: sameAsApplied(value),
      converged: last.converged, error: last.error, healthy: lastHealthy,
      sinceAppliedMs: now - appliedAt, sinceApplierMs: now - lastApplierAt, metricsIntervalSeconds: config.metrics.intervalSeconds,
    });
    if (request === 'refresh') fromApplier(await to.refresh({ rebase: rebaseWanted }));
    if (request !== 'apply') return;
    const started = performance.now();
    const answer = await to.apply(value, { rebase: rebaseWanted });
    fromApplier(answer);
    last = attemptOf(answer, last, options.log);
    if (answer.kind === 'applied') {
      metrics.recordReconcile((performance.now() - started) / 1000, answer.restarted);
      appliedBytes = value;
      appliedAt = now;
    } else {
      appliedBytes = null;
      if (answer.kind === 'failed') guard.failed(revision, answer.message);
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
      try {
        const verdict = await guard.evaluate(await putStatus(), goBack);
        if (verdict === 'reverted') await putStatus();
        const good = guard.lastGoodRevision();
        if (verdict === 'healthy' && applier !== undefined && good !== null) {
          // The applier keeps its own copy of the good state: the one it goes back to.
          const noted = await applier.good(good);
          fromApplier(noted);
          if (noted.kind !== 'noted' || !noted.noted) options.log.warn({ revision: good }, `the applier did not note revision ${good} as good`);
        }
      } catch (err) {
        options.log.warn(`status not sent: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  };

  afterRelease = (answer) => {
    if (answer !== null) {
      fromApplier(answer);
      last = attemptOf(answer, last, options.log);
      appliedBytes = null; // the next document gets a full round
    }
    enqueue(null);
  };

  // The KV revision of the last desired state heard (null: none yet): the gateway sends it again only when it changed.
  let heard: number | null = null;
  const opened = await DeviceLink.open(nc, device, (push) => {
    heard = push.revision;
    enqueue(push.value);
  }, (why) => { options.log.warn(`ignored a message from the gateway: ${why}`); });
  link = opened;
  downloader = new RestoreDownloader({ link: opened, keys: partKeys, stage: downloadStage(applier, config.root, partKeys), log: options.log });
  options.log.info('connected to the controller\'s NATS');
  const regets = (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') {
        opened.requestDesired(heard);
        // A store-log part sent meanwhile may be lost: the next one is a new base (here, or behind the applier).
        backups.rebase();
        rebaseWanted = applier !== undefined;
      }
    }
  })();
  // The heartbeat reconciles again (level-triggered: a file edited or a service stopped by hand is
  // repaired; a no-op round costs milliseconds; behind an applier see applyThrough), re-sends the
  // status, and asks for a newer desired state.
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
    clearTimeout(probationTimer);
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
