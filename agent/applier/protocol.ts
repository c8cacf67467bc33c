/**
 * The privilege split on a Pi (docs/security.md, "The agent and its applier"): the network-facing
 * agent runs as the `onionfleet` user and asks a root applier, one request per connection on a UNIX
 * socket (systemd's onionfleet-apply.socket, `Accept=yes`), to do what needs root. A request is one JSON
 * line; the answer is one JSON line. The applier trusts nothing in a request: an `apply` carries the
 * sealed document exactly as the bus delivered it, and the applier opens it itself (the controller's
 * signature, this device, the schema, not older than applied) before it changes anything.
 */
import { z } from 'zod';
import { BACKUP_MAX_BYTES } from '#shared/nats/limits.ts';
import { StoreLogDownload } from '#shared/schema/store-log-download.ts';

/** The socket systemd listens on (root:onionfleet 0660): only the agent's group may ask. */
export const APPLIER_SOCKET = '/run/onionfleet-apply.sock';

/**
 * What the applier publishes for the agent's status, below the device root: copies of the record, the
 * desired state worked towards, the onion hostnames and the instances' certificates — the files the
 * status reads, which the `onionfleet` user may not read where they live. root:onionfleet, 0750/0640.
 */
export const VIEW_DIR = '/var/lib/onionfleet/view';

/** A sealed desired state is a few kB per instance; this bounds what the applier reads. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** A sealed download part in base64 (one sealed part is at most BACKUP_MAX_BYTES). */
const MAX_PART_CHARS = Math.ceil(BACKUP_MAX_BYTES / 3) * 4;

export const ApplierRequest = z.discriminatedUnion('op', [
  /** Write the key that opens the controller's NATS onion into tor's client auth dir; reload tor if needed. */
  z.strictObject({ op: z.literal('prepare-tor') }),
  /** Open this sealed desired state (base64) and make the device match it. */
  z.strictObject({ op: z.literal('apply'), sealed: z.base64().max(MAX_REQUEST_BYTES), rebase: z.boolean().optional() }),
  /**
   * The agent's guard saw `revision` healthy (agent/rollout/guard.ts): the applier keeps the desired
   * state it applied at that revision as its own last good one. Anything else applied: nothing noted.
   */
  z.strictObject({ op: z.literal('good'), revision: z.int().min(1) }),
  /**
   * The agent's guard goes back by itself: the applier re-applies the last good state it noted itself
   * (never a document from the agent), when that is revision `to`.
   */
  z.strictObject({ op: z.literal('revert'), to: z.int().min(0) }),
  /** No apply: send the backups that are due and refresh the status view (metrics files included). */
  z.strictObject({ op: z.literal('refresh'), rebase: z.boolean().optional() }),
  /**
   * The boot hold's fallback (agent/hold/): no word from the controller since the boot. The applier
   * reads the uptime itself and releases only the held instances whose `holdAtBoot` ran out, then
   * re-applies the desired state it applied last (never a document from the agent). Nothing due: rejected.
   */
  z.strictObject({ op: z.literal('release') }),
  /**
   * One part of a restore download, sealed as the gateway delivered it (agent/restore/): the applier
   * opens it itself (this device, the controller's signature) and stages it for the restore, which
   * checks the whole against the signed desired state. Answer: `staged`, with `download` if whole.
   */
  z.strictObject({ op: z.literal('stage'), sealed: z.base64().max(MAX_PART_CHARS), download: StoreLogDownload }),
  /** Which of these downloads are whole among the staged parts. Answer: `staged`. */
  z.strictObject({ op: z.literal('staged'), downloads: z.array(StoreLogDownload).max(64) }),
]);
export type ApplierRequest = z.infer<typeof ApplierRequest>;

/** A backup the applier sealed (it reads the identity files as root) for the agent to send on the bus. */
export const SealedBackup = z.strictObject({ slot: z.string().regex(/^[0-9a-f]{16}(?:\.[bd]\d{3})?$/), sealed: z.base64() });
export type SealedBackup = z.infer<typeof SealedBackup>;

/**
 * `rebase` on `apply` and `refresh`: the agent's bus connection came back since the last store-log
 * base it sent (parts sent meanwhile may be lost), so each instance's next due store-log backup is a
 * new base (BackupSender.rebase). The agent asks so until an answer carries a base part.
 */
export const carriesBase = (backups: readonly SealedBackup[]): boolean => backups.some((b) => /\.b\d{3}$/.test(b.slot));

/** What every answer that may have sealed backups carries (agent/backup/sender.ts, run by the applier). */
const Backups = {
  backups: z.array(SealedBackup),
  /** BackupSender.backupAgeSeconds when the answer was written (the agent's metrics). */
  backupAgeSeconds: z.number().min(0).nullable(),
};

export const ApplierAnswer = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('prepared'), changed: z.boolean() }),
  /** Reconciled (or refused by the owner's limits: `refused` set, nothing changed). */
  z.strictObject({
    kind: z.literal('applied'),
    revision: z.int().min(0),
    converged: z.boolean(),
    steps: z.array(z.string()),
    blocked: z.array(z.string()),
    refused: z.array(z.string()).nullable(),
    /** Instances whose service was restarted (the agent's metrics). */
    restarted: z.array(z.string()),
    ...Backups,
  }),
  /** A `good` request: whether the revision was noted as the last good one. */
  z.strictObject({ kind: z.literal('noted'), revision: z.int().min(0), noted: z.boolean() }),
  /** A `stage` or `staged` request: the references of the downloads that are whole. */
  z.strictObject({ kind: z.literal('staged'), complete: z.array(z.string()) }),
  /** A `refresh` request done. */
  z.strictObject({ kind: z.literal('refreshed'), ...Backups }),
  /** The document did not open (signature, device, schema) or is older than applied: nothing changed. */
  z.strictObject({ kind: z.literal('rejected'), reason: z.string(), message: z.string() }),
  /** Something failed while applying. */
  z.strictObject({ kind: z.literal('failed'), message: z.string() }),
]);
export type ApplierAnswer = z.infer<typeof ApplierAnswer>;
