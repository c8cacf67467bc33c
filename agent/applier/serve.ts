/**
 * The applier's side of a request (root, started by systemd for one connection): it re-checks
 * everything itself — the agent config and keys it reads are root's, the sealed document is opened
 * here against the controller's pinned key, this device and the schema, and refused when older than
 * the revision applied — and then runs the same code the in-process agent runs: prepareTorForNats,
 * reconcile, the backups (sealed here, sent by the agent). A compromised agent can ask it to apply only
 * what the controller signed for this device, at the newest revision or a newer one, to go back to the
 * last good state the applier itself noted (a revision it applied, that the agent called healthy), or
 * to do nothing.
 */
import { completeDownloads, stageRestorePart } from '../restore/staging.ts';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { EnvelopeError, open, refuseOlder } from '#shared/crypto/envelope.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import type { Logger } from '#shared/log.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { ResolvedConfig } from '../config.ts';
import { loadAgentSecrets } from '../identity.ts';
import { prepareTorForNats } from '../onion/nats-client-auth.ts';
import { hostOwners, noOwners } from '../owners.ts';
import { readRecord, writeRecord } from '../record.ts';
import { DESIRED_COPY, reconcile } from '../reconcile/loop.ts';
import { BackupSender } from '../backup/sender.ts';
import { LAST_GOOD } from '../rollout/guard.ts';
import { describeStep } from '../reconcile/steps.ts';
import type { ServiceManager } from '../services/service-manager.ts';
import type { SystemActions } from '../system.ts';
import type { ApplierAnswer, ApplierRequest, SealedBackup } from './protocol.ts';
import { publishView } from './view.ts';
import { releaseByController, releaseByUptime } from '../hold/release.ts';
import { heldNow } from '../hold/markers.ts';

export interface ApplierContext {
  readonly config: ResolvedConfig;
  readonly services: ServiceManager;
  readonly system: SystemActions;
  readonly log: Logger;
}

/** The server binaries' hashes, kept between requests (each runs in a new process): a no-op round reads no binary. */
const BINARY_HASHES = '/var/lib/onionfleet/binary-hashes.json';
const BinaryHashes = z.record(z.string(), z.strictObject({ size: z.number(), mtimeMs: z.number(), sha256: z.string().nullable() }));

export async function serveRequest(request: ApplierRequest, ctx: ApplierContext): Promise<ApplierAnswer> {
  const { config } = ctx;
  const { device, controller, nats } = config;
  if (device === undefined || controller === undefined || nats === undefined) {
    throw new InvalidInputError([{ source: 'agent config', message: 'needs "device", "controller" and "nats" to apply for the agent' }]);
  }
  const secrets = await loadAgentSecrets(join(config.root, config.keysDir));
  try {
    if (request.op === 'prepare-tor') {
      const url = new URL(nats.url.replace(/^nats:/, 'http:'));
      if (!url.hostname.endsWith('.onion')) return { kind: 'prepared', changed: false };
      const changed = await prepareTorForNats({
        root: config.root, onHost: config.system === 'host', clientAuthDir: config.tor.clientAuthDir, socksPort: Number(config.tor.socks.split(':')[1] ?? 9050),
        onionHostname: url.hostname, privateKeyBase32: secrets.onionClientKey, owners: config.system === 'host' ? hostOwners() : noOwners, system: ctx.system,
      });
      return { kind: 'prepared', changed };
    }
    if (request.op === 'stage' || request.op === 'staged') {
      // Parts of a restore download: opened here (sealed to this device, signed by the controller), never taken on the agent's word.
      if (request.op === 'stage') await stageRestorePart(config.root, new Uint8Array(Buffer.from(request.sealed, 'base64')), { identity: secrets.ageIdentity, signer: controller.signingKey, device });
      const downloads = request.op === 'stage' ? [request.download] : request.downloads;
      return { kind: 'staged', complete: [...await completeDownloads(config.root, downloads)] };
    }
    const backups = await backupsFor(config, secrets.signingSecretKey, ctx.log);
    if (request.op === 'refresh') {
      const desired = await readDesiredCopy(config.root);
      if (desired !== null) {
        backups.sender.remember(desired);
        if (request.rebase === true) backups.sender.rebase();
        await backups.sender.tick(desired, new Date());
      }
      return { kind: 'refreshed', ...backups.answer() };
    }
    if (request.op === 'good') {
      // Only what this applier applied at that revision becomes its last good state.
      const desired = await readDesiredCopy(config.root);
      const noted = desired !== null && desired.revision === request.revision && (await readRecord(config.root)).revision === request.revision;
      if (noted) await writeJson0600(join(config.root, LAST_GOOD), desired);
      return { kind: 'noted', revision: request.revision, noted };
    }
    let opened: { revision: number; body: DesiredState };
    if (request.op === 'release') {
      const fallback = await releaseByUptime(config.root, ctx.log);
      if (fallback.kind === 'rejected') return fallback;
      opened = fallback.opened;
    } else if (request.op === 'revert') {
      // Held at boot: nothing runs that the guard could judge, and going back would serve what is held.
      const held = await heldNow(config.root);
      if (held.length > 0) return { kind: 'rejected', reason: 'held', message: `${held.length} instance(s) held at boot until the controller confirms them: not going back now` };
      const good = await loadJson(join(config.root, LAST_GOOD), DesiredState, 'the last good desired state').catch(() => null);
      if (good?.revision !== request.to) {
        return { kind: 'rejected', reason: 'no-last-good', message: `the applier's last good state is ${good === null ? 'none' : `revision ${good.revision}`}, not revision ${request.to}` };
      }
      ctx.log.warn({ to: good.revision }, `going back to revision ${good.revision} (the agent's guard)`);
      opened = { revision: good.revision, body: good };
    } else {
      const sealed = new Uint8Array(Buffer.from(request.sealed, 'base64'));
      try {
        opened = await open(sealed, { identity: secrets.ageIdentity, signer: controller.signingKey, kind: 'desired-state', device, schema: DesiredState });
        refuseOlder(opened.revision, (await readRecord(config.root)).revision);
      } catch (err) {
        if (!(err instanceof EnvelopeError)) throw err;
        const record = await readRecord(config.root);
        await writeRecord(config.root, { ...record, refused: { revision: record.revision, reasons: [err.message] } });
        ctx.log.warn({ reason: err.reason }, `refused a desired state: ${err.reason}`);
        return { kind: 'rejected', reason: err.reason, message: err.message };
      }
      // The controller's newest word for this device: whatever was held at boot follows it now.
      await releaseByController(config.root, opened.revision, ctx.log);
    }
    const { revision, body } = opened;
    const binaryHashes = await loadBinaryHashes(config.root);
    const restarted: string[] = [];
    // As in the in-process agent (agent/run.ts): the leaving instances are known before the reconcile,
    // the final backup is sealed just before an instance is archived, the due ones after a converged round.
    backups.sender.remember(body);
    if (request.op === 'apply' && request.rebase === true) backups.sender.rebase();
    const result = await reconcile(body, { config, services: ctx.services, system: ctx.system, binaryHashes, beforeArchive: (instance) => backups.sender.final(instance), onStep: (step) => {
      if (step.action === 'restartService') restarted.push(step.instance);
      ctx.log.info({ step: step.action, revision }, describeStep(step));
    } });
    await saveBinaryHashes(config.root, binaryHashes);
    if (result.converged) await backups.sender.tick(body, new Date());
    return { kind: 'applied', revision, converged: result.converged, steps: result.steps, blocked: result.blocked, refused: result.refused, restarted, ...backups.answer() };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    ctx.log.error(`apply failed: ${message}`);
    return { kind: 'failed', message };
  } finally {
    await publishView(config).catch((err: unknown) => {
      ctx.log.warn(`status view not published: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}

/**
 * The backups of one request: BackupSender (agent/backup/sender.ts) as the in-process agent runs it,
 * here as root (the identity files are tor's and the servers'), signed with the device's key; what it
 * seals is collected for the answer, and the agent sends it on the bus.
 */
async function backupsFor(config: ResolvedConfig, signingSecretKey: string, log: Logger): Promise<{ sender: BackupSender; answer: () => { backups: SealedBackup[]; backupAgeSeconds: number | null } }> {
  const sealed: SealedBackup[] = [];
  const sender = new BackupSender({ root: config.root, device: config.device ?? '', signingSecretKey, log, send: (slot, bytes) => {
    sealed.push({ slot, sealed: Buffer.from(bytes).toString('base64') });
  } });
  await sender.rememberLastApplied();
  return { sender, answer: () => ({ backups: sealed, backupAgeSeconds: sender.backupAgeSeconds(new Date()) }) };
}

async function readDesiredCopy(root: string): Promise<DesiredState | null> {
  return loadJson(join(root, DESIRED_COPY), DesiredState, 'a desired state').catch(() => null);
}

async function writeJson0600(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
}

async function loadBinaryHashes(root: string): Promise<Map<string, { size: number; mtimeMs: number; sha256: string | null }>> {
  try {
    const parsed = BinaryHashes.safeParse(JSON.parse(await readFile(join(root, BINARY_HASHES), 'utf8')));
    return new Map(parsed.success ? Object.entries(parsed.data) : []);
  } catch {
    return new Map();
  }
}

async function saveBinaryHashes(root: string, hashes: Map<string, { size: number; mtimeMs: number; sha256: string | null }>): Promise<void> {
  const path = join(root, BINARY_HASHES);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(Object.fromEntries(hashes))}\n`, { mode: 0o600 });
}
