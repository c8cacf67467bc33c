/**
 * The public halves a device shows the controller to be registered (`onionfleet-agent init` prints
 * it; `onionfleet device add --record FILE` reads it). Private keys never leave the device. Pure.
 */
import { z } from 'zod';
import { AgeRecipient, Id } from './common.ts';

/** `ed25519:<base64url of the 32-byte public key>`. */
export const SigningPublicKey = z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, { error: 'expected ed25519:<43 base64url characters>' });

/** A NATS user nkey (public): `U` + 55 base32 characters. */
export const NatsUserKey = z.string().regex(/^U[A-Z2-7]{55}$/, { error: 'expected a NATS user nkey (U…, 56 characters)' });

export const EnrollmentRecord = z.strictObject({
  kind: z.literal('onionfleet/enrollment'),
  version: z.literal(1),
  device: Id,
  signingKey: SigningPublicKey,
  ageRecipient: AgeRecipient,
  natsUser: NatsUserKey,
});
export type EnrollmentRecord = z.infer<typeof EnrollmentRecord>;
