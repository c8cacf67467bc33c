/**
 * The applier's side of a request (root, started by systemd for one connection): it re-checks
 * everything itself — the agent config and keys it reads are root's, the sealed document is opened
 * here against the controller's pinned key, this device and the schema, and refused when older than
 * the revision applied — and then runs the same code the in-process agent runs: prepareTorForNats,
 * reconcile. A compromised agent can ask it to apply only what the controller signed for this device,
 * at the newest revision or a newer one, or to do nothing.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { EnvelopeError, open, refuseOlder } from '#shared/crypto/envelope.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { Logger } from '#shared/log.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { ResolvedConfig } from '../config.ts';
import { loadAgentSecrets } from '../identity.ts';
import { prepareTorForNats } from '../onion/nats-client-auth.ts';
import { hostOwners, noOwners } from '../owners.ts';
import { readRecord, writeRecord } from '../record.ts';
import { reconcile } from '../reconcile/loop.ts';
import { describeStep } from '../reconcile/steps.ts';
import type { ServiceManager } from '../services/service-manager.ts';
import type { SystemActions } from '../system.ts';
import type { ApplierAnswer, ApplierRequest } from './protocol.ts';
import { publishView } from './view.ts';

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
    const sealed = new Uint8Array(Buffer.from(request.sealed, 'base64'));
    let opened: { revision: number; body: DesiredState };
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
    const { revision, body } = opened;
    const binaryHashes = await loadBinaryHashes(config.root);
    const result = await reconcile(body, { config, services: ctx.services, system: ctx.system, binaryHashes, onStep: (step) => {
      ctx.log.info({ step: step.action, revision }, describeStep(step));
    } });
    await saveBinaryHashes(config.root, binaryHashes);
    return { kind: 'applied', revision, converged: result.converged, steps: result.steps, blocked: result.blocked, refused: result.refused };
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
