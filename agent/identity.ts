/**
 * The device's own keys, born on the device: an ed25519 signing key (its status), an
 * age identity (reads its desired state) and its NATS nkey. Files 0600 in the agent's keys dir; the
 * enrollment record shows the public halves only.
 */
import { createUser, fromSeed } from '@nats-io/nkeys';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ageRecipientOf, generateAgeIdentity } from '#shared/crypto/age.ts';
import { clientAuthKeyPair, clientAuthPublicKeyOf } from '#shared/crypto/onion.ts';
import { generateSigningKey, publicKeyOf } from '#shared/crypto/sign.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';

export const KEYS_DIR = '/etc/onionfleet/keys';

export interface AgentSecrets {
  readonly device: string;
  readonly signingSecretKey: string;
  readonly ageIdentity: string;
  readonly natsSeed: string;
  /** x25519 private key (base32) that authorizes this device at the controller's NATS onion. */
  readonly onionClientKey: string;
}

const FILES = { device: 'device', signing: 'signing.key', age: 'age.key', nats: 'nats.nk', onionClient: 'onion-client.key' } as const;

/** Makes the keys unless they exist (then keeps them); returns the enrollment record either way. */
export async function initAgentIdentity(keysDir: string, device: string): Promise<{ record: EnrollmentRecord; created: boolean }> {
  const existing = await loadAgentSecrets(keysDir).catch(() => null);
  if (existing !== null) {
    if (existing.device !== device) {
      throw new OperationFailedError('device-mismatch', `${keysDir} holds the keys of device "${existing.device}", not "${device}"`, { hint: 'an agent keeps its identity; use the device id it was made with' });
    }
    return { record: await recordOf(existing), created: false };
  }
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const signing = generateSigningKey();
  const age = await generateAgeIdentity();
  const nkey = createUser();
  const write = (name: string, value: string) => writeFileAtomic(join(keysDir, name), `${value}\n`, { mode: 0o600 });
  await write(FILES.signing, signing.secretKey);
  await write(FILES.age, age.identity);
  await write(FILES.nats, new TextDecoder().decode(nkey.getSeed()));
  await write(FILES.onionClient, clientAuthKeyPair().privateKeyBase32);
  await write(FILES.device, device); // last: its presence marks a complete identity
  const secrets = await loadAgentSecrets(keysDir);
  return { record: await recordOf(secrets), created: true };
}

/** Throws when the keys are missing or incomplete. */
export async function loadAgentSecrets(keysDir: string): Promise<AgentSecrets> {
  const read = async (name: string) => (await readFile(join(keysDir, name), 'utf8')).trim();
  try {
    return { device: await read(FILES.device), signingSecretKey: await read(FILES.signing), ageIdentity: await read(FILES.age), natsSeed: await read(FILES.nats), onionClientKey: await read(FILES.onionClient) };
  } catch (err) {
    throw new OperationFailedError('agent-keys-missing', `${keysDir}: no agent identity`, { cause: err, hint: 'run `onionfleet-agent init --device ID` first' });
  }
}

export async function recordOf(secrets: AgentSecrets): Promise<EnrollmentRecord> {
  return {
    kind: 'onionfleet/enrollment',
    version: 1,
    device: secrets.device,
    signingKey: publicKeyOf(secrets.signingSecretKey),
    ageRecipient: await ageRecipientOf(secrets.ageIdentity),
    natsUser: fromSeed(new TextEncoder().encode(secrets.natsSeed)).getPublicKey(),
    onionClientKey: clientAuthPublicKeyOf(secrets.onionClientKey),
  };
}
