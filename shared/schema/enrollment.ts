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

/** An x25519 public key as tor's `.auth` files hold it: 52 upper-case base32 characters. */
export const OnionClientPublicKey = z.string().regex(/^[A-Z2-7]{52}$/, { error: 'expected a 52-character base32 x25519 public key' });

export const EnrollmentRecord = z.strictObject({
  kind: z.literal('onionfleet/enrollment'),
  version: z.literal(1),
  device: Id,
  signingKey: SigningPublicKey,
  ageRecipient: AgeRecipient,
  natsUser: NatsUserKey,
  /**
   * The device's x25519 client-authorization key (public, base32) for the controller's NATS onion:
   * the service lists it in `authorized_clients/<device>.auth`; revoking removes it (docs/reference/tor.md).
   */
  onionClientKey: OnionClientPublicKey,
});
export type EnrollmentRecord = z.infer<typeof EnrollmentRecord>;
