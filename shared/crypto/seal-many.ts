/**
 * Sealed documents with several readers: the same signed envelope as {@link seal} (./envelope.ts),
 * age-encrypted to every recipient given — a backup goes to the controller *and* to a group's offline
 * recipients, so it outlives the laptop. {@link open} opens it with any one of their identities.
 */
import { InvalidInputError } from '../errors.ts';
import { encryptTo } from './age.ts';
import { canonicalJson, ENVELOPE_VERSION, type Sealable } from './envelope.ts';
import { publicKeyOf, sign } from './sign.ts';

/**
 * Signs `doc` and encrypts it to each of `recipients` (one age file, one stanza per recipient).
 * @throws {InvalidInputError} when there is no recipient, or as {@link seal} does.
 * @throws {AgeError} `age-bad-recipient` when a recipient is not an age recipient.
 */
export async function sealToMany(doc: Sealable, keys: { readonly signingSecretKey: string; readonly recipients: readonly string[] }): Promise<Uint8Array> {
  if (keys.recipients.length === 0) throw new InvalidInputError([{ source: 'envelope', path: 'recipients', message: 'needs at least one recipient' }]);
  if (doc.kind === '' || doc.device === '' || !Number.isSafeInteger(doc.revision) || doc.revision < 0) {
    throw new InvalidInputError([{ source: 'envelope', message: 'kind and device must not be empty; revision must be a non-negative integer' }]);
  }
  const signed = canonicalJson({ v: ENVELOPE_VERSION, kind: doc.kind, device: doc.device, revision: doc.revision, signer: publicKeyOf(keys.signingSecretKey), body: doc.body });
  const utf8 = (t: string) => new TextEncoder().encode(t);
  return encryptTo([...new Set(keys.recipients)], utf8(canonicalJson({ signed, sig: sign(keys.signingSecretKey, utf8(signed)) })));
}
