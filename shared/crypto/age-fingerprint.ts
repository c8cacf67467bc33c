/**
 * A short fingerprint of an age X25519 recipient, for people to compare (the agent prints it when it
 * joins, `onionfleet device list` shows it). Same shape as the signing keys' `keyFingerprint`.
 */
import { createHash } from 'node:crypto';
import { bech32 } from '@scure/base';
import { InvalidInputError } from '../errors.ts';

/**
 * `SHA256:` + base64 (no `=` padding) of SHA-256 over the recipient's raw 32-byte X25519 key.
 *
 * @throws {InvalidInputError} when `recipient` is not an `age1…` X25519 recipient.
 */
export function ageRecipientFingerprint(recipient: string): string {
  let key: Uint8Array;
  try {
    const { prefix, words } = bech32.decode(recipient as `${string}1${string}`, 90);
    key = bech32.fromWords(words);
    if (prefix !== 'age' || key.length !== 32) throw new Error('not an X25519 recipient');
  } catch (err) {
    throw new InvalidInputError([{ source: 'age recipient', message: 'expected an age X25519 recipient (age1…)' }], { cause: err });
  }
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}
