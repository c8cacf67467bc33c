/**
 * The controller's keys: an ed25519 signing key (desired states, bundles), an age X25519 identity
 * (reads the devices' status, and every secret file of the state), and its NATS nkey. Made by
 * `onionfleet init`, files 0600. With a passphrase the age identity is encrypted under it (age
 * scrypt) and the other two are sealed to the identity (secret-files.ts): one scrypt per command.
 * Only public halves appear in controller.json.
 */
import { createUser, fromSeed } from '@nats-io/nkeys';
import { mkdir, readFile } from 'node:fs/promises';
import { decryptWithPassphrase, encryptWithPassphrase, generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey, publicKeyOf } from '#shared/crypto/sign.ts';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadIdentity, type ControllerIdentity } from './identity.ts';
import type { StatePaths } from './paths.ts';
import { isSealed, readSecret, writeSecret } from './secret-files.ts';

export interface ControllerSecrets {
  readonly signingSecretKey: string;
  readonly ageIdentity: string;
  /** The NATS user seed (`SU…`). */
  readonly natsSeed: string;
  /** The passphrase the secrets were opened with (null: the state has none). */
  readonly passphrase: string | null;
}

/** Creates the state: refuses (exit 2) when it exists already, so keys are never replaced by accident. */
export async function initState(paths: StatePaths, passphrase: string | null): Promise<ControllerIdentity> {
  if (await readFile(paths.identity).then(() => true, () => false)) {
    throw new InvalidInputError([{ source: paths.dir, message: 'already initialized (controller.json exists); keys are never replaced' }]);
  }
  if (passphrase === '') throw new InvalidInputError([{ source: 'passphrase', message: 'is empty' }], { hint: 'give a passphrase, or none to keep the keys in the clear' });
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  await mkdir(paths.devices, { recursive: true, mode: 0o700 });
  const signing = generateSigningKey();
  const age = await generateAgeIdentity();
  const nkey = createUser();
  const ageBytes = new TextEncoder().encode(`${age.identity}\n`);
  await writeFileAtomic(paths.ageIdentity, passphrase === null ? ageBytes : await encryptWithPassphrase(passphrase, ageBytes, { armor: true }), { mode: 0o600 });
  const identity: ControllerIdentity = { kind: 'onionfleet/controller', version: 1, signingKey: signing.publicKey, ageRecipient: age.recipient, natsUser: nkey.getPublicKey() };
  await writeFileAtomic(paths.identity, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
  // Sealed to the identity just written when there is a passphrase (writeSecret reads controller.json).
  await writeSecret(paths, paths.signingKey, `${signing.secretKey}\n`);
  await writeSecret(paths, paths.natsSeed, `${new TextDecoder().decode(nkey.getSeed())}\n`);
  return identity;
}

/** The private keys; a passphrase is needed (and checked) when the state has one. */
export async function loadSecrets(paths: StatePaths, passphrase: string | null): Promise<ControllerSecrets> {
  const identity = await loadIdentity(paths);
  const rawAge = await readFile(paths.ageIdentity).catch((err: unknown) => {
    throw new OperationFailedError('key-missing', `${paths.ageIdentity}: cannot read the key`, { cause: err });
  });
  let ageIdentity: string;
  if (!isSealed(rawAge)) ageIdentity = rawAge.toString('utf8').trim();
  else if (passphrase === null) throw new InvalidInputError([{ source: paths.ageIdentity, message: 'the key is protected by a passphrase' }], { hint: 'set ONIONFLEET_PASSPHRASE or pass --passphrase-file' });
  else ageIdentity = new TextDecoder().decode(await decryptWithPassphrase(passphrase, rawAge)).trim();
  const keys = { ageIdentity, passphrase };
  const read = async (path: string): Promise<string> => {
    const bytes = await readSecret(paths, path, keys);
    if (bytes === null) throw new OperationFailedError('key-missing', `${path}: cannot read the key`);
    return new TextDecoder().decode(bytes).trim();
  };
  const secrets = { signingSecretKey: await read(paths.signingKey), ageIdentity, natsSeed: await read(paths.natsSeed), passphrase };
  if (publicKeyOf(secrets.signingSecretKey) !== identity.signingKey || fromSeed(new TextEncoder().encode(secrets.natsSeed)).getPublicKey() !== identity.natsUser) {
    throw new OperationFailedError('keys-mismatch', `${paths.keys}: the keys do not match controller.json`);
  }
  return secrets;
}
