/**
 * `onionfleet-agent join`: enrolls this device with a join token from the admin. Makes the device's
 * keys (born here), opens the controller's NATS onion with the token's one-time client
 * key, sends the public halves through the token's one-time NATS user — which may publish this one
 * request and nothing else — and checks the controller's answer against the signing-key fingerprint
 * in the token. Only then does it write the agent config. The device is pending until the admin runs
 * `onionfleet device approve`; its own keys (not the token's) then open the bus.
 *
 * Nothing secret is logged or put in an error: not the token, its seed or secret, not the onion address.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ageRecipientFingerprint } from '#shared/crypto/age-fingerprint.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { JoinToken } from '#shared/schema/join-token.ts';
import { AgentConfig, type ResolvedConfig } from './config.ts';
import { initAgentIdentity, loadAgentSecrets } from './identity.ts';
import { prepareTorForNats } from './onion/nats-client-auth.ts';
import { hostOwners, noOwners } from './owners.ts';
import { JoinRefusedError, requestJoin, verifyAccepted } from './join-request.ts';
import type { SystemActions } from './system.ts';

export { JoinRefusedError } from './join-request.ts';

/** The file in tor's ClientOnionAuthDir that opens the controller's NATS onion. */
export const CONTROLLER_AUTH_FILE = 'controller.auth_private';

export interface JoinOptions {
  readonly config: ResolvedConfig;
  /** The agent config file to write (created when missing; the owner's other settings are kept). */
  readonly configPath: string;
  readonly token: JoinToken;
  readonly device: string;
  /** Tor's SOCKS port (`HOST:PORT`) for an onion NATS; default the config's `nats.socks`, else `tor.socks`. */
  readonly socks?: string;
  readonly system: SystemActions;
  /** Connect deadline. Default 120 s through Tor, 15 s otherwise. */
  readonly connectTimeoutMs?: number;
  /** Progress lines (never secrets). */
  readonly log: (line: string) => void;
}

export interface JoinResult {
  readonly device: string;
  readonly operator: string;
  /** The device's signing key fingerprint, for the admin to compare in `onionfleet device list`. */
  readonly fingerprint: string;
  readonly ageFingerprint: string;
  readonly configPath: string;
  /** True when this join made the device's keys (false: it kept the keys it had). */
  readonly keysCreated: boolean;
}

/**
 * Joins the fleet; see the module comment. Throws {@link JoinRefusedError} (exit 2) when the
 * controller refuses, OperationFailedError `join-reply-unverified` (exit 1, nothing written) when
 * the reply does not come from the token's controller, NatsUnreachableError (exit 4) when nothing
 * answers, and InvalidInputError (exit 2) when the config is for another device. Keys made by a
 * refused join are discarded; after a timeout they are kept (the controller may hold them as pending:
 * join again with a new token, the same device id and these keys).
 */
export async function joinFleet(o: JoinOptions): Promise<JoinResult> {
  const { config, token, device } = o;
  if (config.device !== undefined && config.device !== device) {
    throw new InvalidInputError([{ source: o.configPath, path: 'device', message: `is "${config.device}", not --device "${device}"` }]);
  }
  const keysDir = join(config.root, config.keysDir);
  const identity = await prepareIdentity(keysDir, device);
  const onion = onionHost(token.nats);
  const socks = o.socks ?? config.nats?.socks ?? config.tor.socks;
  const authFile = join(config.root, config.tor.clientAuthDir, CONTROLLER_AUTH_FILE);
  const previousAuth = onion === null ? null : await readFile(authFile).catch(() => null);
  let done = false;
  try {
    const tor = (privateKeyBase32: string) => prepareTorForNats({
      root: config.root, onHost: config.system === 'host', clientAuthDir: config.tor.clientAuthDir, socksPort: Number(socks.split(':')[1] ?? 9050),
      onionHostname: onion ?? '', privateKeyBase32, owners: config.system === 'host' ? hostOwners() : noOwners, system: o.system,
    });
    if (onion !== null) await tor(token.onionClientKey);
    const reply = await requestJoin(token, identity.record, {
      socks: onion === null ? null : socks, connectTimeoutMs: o.connectTimeoutMs ?? (onion === null ? 15_000 : 120_000), log: o.log,
    });
    if (!reply.ok) {
      if (reply.reason === 'internal') throw new OperationFailedError('join-failed', `the controller could not record the join: ${reply.message}`);
      throw new JoinRefusedError(reply.reason, reply.message);
    }
    verifyAccepted(reply, token, identity.record);
    await identity.commit();
    await writeAgentConfig(o.configPath, {
      device, controller: reply.controller, nats: onion === null ? { url: token.nats } : { url: token.nats, socks }, root: config.root,
    });
    if (onion !== null) {
      // The token's key is spent; the device's own key opens the onion once the admin approves.
      await tor((await loadAgentSecrets(keysDir)).onionClientKey);
    }
    done = true;
  } catch (err) {
    if (err instanceof JoinRefusedError || (err instanceof OperationFailedError && err.code === 'join-reply-unverified')) await identity.discard();
    else await identity.commit().catch(() => undefined);
    throw err;
  } finally {
    if (!done && onion !== null) await restoreAuth(authFile, previousAuth);
  }
  return {
    device, operator: token.operator, fingerprint: keyFingerprint(identity.record.signingKey),
    ageFingerprint: ageRecipientFingerprint(identity.record.ageRecipient), configPath: o.configPath, keysCreated: identity.created,
  };
}

/** The `.onion` host of a NATS url, or null for any other host. */
function onionHost(url: string): string | null {
  const host = new URL(url.replace(/^nats:/, 'http:')).hostname;
  return host.endsWith('.onion') ? host : null;
}

interface PreparedIdentity {
  readonly record: EnrollmentRecord;
  readonly created: boolean;
  /** Puts new keys in place (no-op for kept keys, or when already done). */
  commit(): Promise<void>;
  /** Removes new keys (no-op for kept keys). */
  discard(): Promise<void>;
}

/**
 * The device's keys: the ones in `keysDir` when it holds this device's identity (another device's
 * identity is refused by initAgentIdentity), else new keys made in a staging directory beside it,
 * so that a refused join leaves nothing behind. Throws OperationFailedError `agent-keys-incomplete`
 * when `keysDir` holds files but no complete identity.
 */
async function prepareIdentity(keysDir: string, device: string): Promise<PreparedIdentity> {
  const noop = (): Promise<void> => Promise.resolve();
  if (await loadAgentSecrets(keysDir).then(() => true, () => false)) {
    const { record } = await initAgentIdentity(keysDir, device);
    return { record, created: false, commit: noop, discard: noop };
  }
  if ((await readdir(keysDir).catch(() => [])).length > 0) {
    throw new OperationFailedError('agent-keys-incomplete', `${keysDir} holds files but no complete agent identity`, { hint: 'move it aside (it is not a usable identity), then join again' });
  }
  await mkdir(dirname(keysDir), { recursive: true });
  const staging = join(dirname(keysDir), `.${basename(keysDir)}.joining-${randomBytes(4).toString('hex')}`);
  const { record } = await initAgentIdentity(staging, device);
  let placed = false;
  return {
    record,
    created: true,
    async commit() {
      if (placed) return;
      await rmdir(keysDir).catch(() => undefined); // empty (checked above), or absent
      await rename(staging, keysDir);
      placed = true;
    },
    async discard() {
      if (!placed) await rm(staging, { recursive: true, force: true });
    },
  };
}

/** Puts back what the auth file held before the join (or removes it). Never throws. */
async function restoreAuth(file: string, previous: Buffer | null): Promise<void> {
  await (previous === null ? rm(file, { force: true }) : writeFileAtomic(file, previous, { mode: 0o600 })).catch(() => undefined);
}

const RawConfig = z.record(z.string(), z.unknown());

/**
 * Sets `device`, `controller` and `nats` in the config file (atomically, 0600), keeping everything
 * else the owner wrote — limits above all. A new file also records a root other than `/`.
 * Throws InvalidInputError when the result would not be a valid agent config.
 */
async function writeAgentConfig(path: string, update: { device: string; controller: { signingKey: string; ageRecipient: string }; nats: { url: string; socks?: string }; root: string }): Promise<void> {
  const existing = await readFile(path).then(() => loadJson(path, RawConfig, 'an agent config'), () => null);
  const base = existing ?? {};
  const next = {
    ...base,
    ...(base.root === undefined && update.root !== '/' ? { root: update.root } : {}),
    device: update.device,
    controller: update.controller,
    nats: update.nats,
  };
  const parsed = AgentConfig.safeParse(next);
  if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => ({ source: path, path: i.path.map(String).join('.'), message: i.message })));
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
}
