/**
 * An instance's identity: everything that makes its address and its data (docs/continuity.md) —
 * the onion service key, the CA key and certificate (the fingerprint), the TLS key and certificate,
 * the password and the SMP store log. Only ever inside a sealed document: a backup (device → controller
 * and offline recipients) or a desired state (controller → the device that takes the instance over).
 * Pure.
 */
import { z } from 'zod';
import { Id } from './common.ts';
import { ChainTip } from './store-log-chain.ts';
import { StoreLogDownload } from './store-log-download.ts';

// desired-state.ts imports this file: its InstanceId and ServerPassword are not imported back (an ESM
// cycle); the desired instance that carries an identity checks both against its own fields.
const InstanceId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}-(?:smp|xftp)-\d{2,}$/, { error: 'expected an instance id such as newsroom-smp-01' });

const Pem = (label: string) => z.string().max(16_384).regex(new RegExp(`^-----BEGIN ${label}-----\\n[\\s\\S]+-----END ${label}-----\\n?$`), { error: `expected a PEM ${label}` });
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'expected base64' });

/** The most store log one backup carries (gzip-compressed, before base64): beyond it only the identity goes. */
export const STORE_LOG_MAX_BYTES = 256 * 1024;

export const InstanceIdentity = z.strictObject({
  instance: InstanceId,
  kind: z.enum(['smp', 'xftp']),
  group: Id,
  /**
   * Raised each time the identity is given to another device: a device holding a copy of a lower
   * epoch holds a stale one (docs/continuity.md, "A device that comes back").
   */
  epoch: z.int().min(1),
  onion: z.strictObject({
    hostname: z.string().regex(/^[a-z2-7]{56}\.onion$/),
    /** tor's `hs_ed25519_secret_key` file, base64. */
    secretKeyFile: Base64.max(200),
  }),
  /** SHA-256 of ca.crt's DER, base64url with `=` (44 characters). */
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{43}=$/),
  caCert: Pem('CERTIFICATE'),
  /** ca.key: null when the operator moved it off the device (docs/reference/simplex-servers.md). */
  caKey: Pem('PRIVATE KEY').nullable(),
  serverCert: Pem('CERTIFICATE'),
  serverKey: Pem('PRIVATE KEY'),
  password: z.string().regex(/^[!-~]{16,128}$/),
  /** The SMP store log, gzip then base64; null for XFTP, or when it was larger than STORE_LOG_MAX_BYTES. */
  storeLog: Base64.max(Math.ceil(STORE_LOG_MAX_BYTES / 3) * 4).nullable(),
  /**
   * Why the store log is missing when it is (`too-large`, `none`); `chain`: it travels as a chain of
   * its own (the backup's `storeLogChain`); `fetch`: in a desired state, too large to ride inside it,
   * the device downloads it (`storeLogDownload`, shared/schema/store-log-download.ts).
   */
  storeLogNote: z.enum(['included', 'too-large', 'none', 'chain', 'fetch']),
  /** With `storeLogNote: fetch`: the download the device fetches before it restores. */
  storeLogDownload: StoreLogDownload.optional(),
});
export type InstanceIdentity = z.infer<typeof InstanceIdentity>;

/** The body of a sealed backup (kind `onionfleet/backup`): one instance, as its device read it. */
export const BackupBody = z.strictObject({
  device: Id,
  /** When the device read the files (ISO 8601): the age of the data a restore brings back. */
  takenAt: z.iso.datetime(),
  /** `identity` for a fresh identity, `store-log` for a scheduled one, `final` when the instance stopped for a hand-over. */
  reason: z.enum(['identity', 'store-log', 'final']),
  identity: InstanceIdentity,
  /** With `storeLogNote: chain`: the store-log chain's tip when the backup was taken (shared/schema/store-log-chain.ts). */
  storeLogChain: ChainTip.optional(),
});
export type BackupBody = z.infer<typeof BackupBody>;
