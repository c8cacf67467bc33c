/**
 * The controller's keys: an ed25519 signing key (desired states, bundles), an age X25519 identity
 * (reads the devices' status), and its NATS nkey. Made by `onionfleet init`, files 0600, optionally
 * encrypted with a passphrase (age scrypt). Only public halves appear in controller.json.
 */
import { createUser, fromSeed } from '@nats-io/nkeys';
import { mkdir, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { generateAgeIdentity, decryptWithPassphrase, encryptWithPassphrase } from '../../shared/crypto/age.ts';
import { generateSigningKey, publicKeyOf } from '../../shared/crypto/sign.ts';
import { InvalidInputError, OperationFailedError } from '../../shared/errors.ts';
import { writeFileAtomic } from '../../shared/fs/atomic-write.ts';
import { loadJson } from '../../shared/fs/load-json.ts';
import { AgeRecipient } from '../../shared/schema/common.ts';
import { NatsUserKey, SigningPublicKey } from '../../shared/schema/enrollment.ts';
import type { StatePaths } from './paths.ts';

export const ControllerIdentity = z.strictObject({
  kind: z.literal('onionfleet/controller'),
  version: z.literal(1),
  signingKey: SigningPublicKey,
  ageRecipient: AgeRecipient,
  natsUser: NatsUserKey,
});
export type ControllerIdentity = z.infer<typeof ControllerIdentity>;

export interface ControllerSecrets {
  readonly signingSecretKey: string;
  readonly ageIdentity: string;
  /** The NATS user seed (`SU…`). */
  readonly natsSeed: string;
}

const ARMOR = '-----BEGIN AGE ENCRYPTED FILE-----';

/** Creates the state: refuses (exit 2) when it exists already, so keys are never replaced by accident. */
export async function initState(paths: StatePaths, passphrase: string | null): Promise<ControllerIdentity> {
  if (await readFile(paths.identity).then(() => true, () => false)) {
    throw new InvalidInputError([{ source: paths.dir, message: 'already initialized (controller.json exists); keys are never replaced' }]);
  }
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  await mkdir(paths.devices, { recursive: true, mode: 0o700 });
  const signing = generateSigningKey();
  const age = await generateAgeIdentity();
  const nkey = createUser();
  const secrets: [string, string][] = [
    [paths.signingKey, signing.secretKey],
    [paths.ageIdentity, age.identity],
    [paths.natsSeed, new TextDecoder().decode(nkey.getSeed())],
  ];
  for (const [path, secret] of secrets) {
    const bytes = new TextEncoder().encode(`${secret}\n`);
    await writeFileAtomic(path, passphrase === null ? bytes : await encryptWithPassphrase(passphrase, bytes, { armor: true }), { mode: 0o600 });
  }
  const identity: ControllerIdentity = { kind: 'onionfleet/controller', version: 1, signingKey: signing.publicKey, ageRecipient: age.recipient, natsUser: nkey.getPublicKey() };
  await writeFileAtomic(paths.identity, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
  return identity;
}

/** The public identity; exit 2 with a hint when the state was never initialized. */
export async function loadIdentity(paths: StatePaths): Promise<ControllerIdentity> {
  try {
    await readFile(paths.identity);
  } catch (err) {
    throw new InvalidInputError([{ source: paths.dir, message: 'no controller state here' }], { cause: err, hint: 'run `onionfleet init` first (or pass --state DIR)' });
  }
  return loadJson(paths.identity, ControllerIdentity, 'a controller identity');
}

/** The private keys; a passphrase is needed (and checked) when they were stored encrypted. */
export async function loadSecrets(paths: StatePaths, passphrase: string | null): Promise<ControllerSecrets> {
  const identity = await loadIdentity(paths);
  const read = async (path: string): Promise<string> => {
    const raw = await readFile(path).catch((err: unknown) => {
      throw new OperationFailedError('key-missing', `${path}: cannot read the key`, { cause: err });
    });
    if (!raw.subarray(0, ARMOR.length).toString().startsWith(ARMOR)) return raw.toString('utf8').trim();
    if (passphrase === null) throw new InvalidInputError([{ source: path, message: 'the key is protected by a passphrase' }], { hint: 'set ONIONFLEET_PASSPHRASE or pass --passphrase-file' });
    return new TextDecoder().decode(await decryptWithPassphrase(passphrase, raw)).trim();
  };
  const secrets = { signingSecretKey: await read(paths.signingKey), ageIdentity: await read(paths.ageIdentity), natsSeed: await read(paths.natsSeed) };
  if (publicKeyOf(secrets.signingSecretKey) !== identity.signingKey || fromSeed(new TextEncoder().encode(secrets.natsSeed)).getPublicKey() !== identity.natsUser) {
    throw new OperationFailedError('keys-mismatch', `${paths.keys}: the keys do not match controller.json`);
  }
  return secrets;
}
