/**
 * Names on the control-plane bus: the KV buckets, the accounts, and the subjects an agent or a join
 * token speaks on. Pure data: no I/O.
 *
 * Isolation (docs/reference/nats.md, "Isolation by accounts"): the buckets, the controller and
 * `serve`'s gateway live in the account {@link CONTROL_ACCOUNT}; every enrolled device and every open
 * join token has an account of its own, which holds nothing but that one party. A party's account
 * exports its `…up.>` subjects to CONTROL and imports its `…down.>` subjects from CONTROL, both as
 * stream imports of exactly its own subjects. So whatever subject or reply subject a party names, the
 * message either stays in its own empty account or reaches CONTROL on `onionfleet.<kind>.<its own
 * id>.up.…` — which no stream captures and only the gateway reads. Parties never use JetStream.
 */
import { InvalidInputError } from '../errors.ts';
import { Id } from '../schema/common.ts';
import { TokenId } from '../schema/join-token.ts';

/** The bucket the controller writes each device's desired state to, keyed by device id. History 10. */
export const DESIRED_BUCKET = 'desired';
/** The bucket `serve`'s gateway writes each device's status to, keyed by device id. History 1. */
export const STATUS_BUCKET = 'status';
/** The bucket `serve`'s gateway writes sealed backups to, keyed `<device>.<slot>`. History 3. */
export const BACKUP_BUCKET = 'backups';
/** The bucket `serve`'s gateway writes the store-log chains' parts to, keyed `<device>.<slot>.<part>`. History 1. */
export const STORE_LOG_BUCKET = 'store-logs';
/**
 * The bucket the controller writes restore downloads to (store logs too large for a desired state,
 * sealed to the device that restores them), keyed `<device>.<ref>.<part>`. History 1. Only the
 * gateway reads it for a device, and only that device's keys.
 */
export const RESTORE_BUCKET = 'restores';

/** The JetStream stream behind a KV bucket (`KV_<bucket>`). */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** The account of the controller, `serve`'s gateway and every JetStream stream. */
export const CONTROL_ACCOUNT = 'CONTROL';

/**
 * Throws {@link InvalidInputError} unless `device` is an id (`[a-z0-9][a-z0-9-]{0,62}`). Ids become
 * subject tokens and account names, so a `.`, `*` or `>` in one would widen a party's reach.
 */
export function assertDeviceId(device: string): void {
  if (!Id.safeParse(device).success) {
    throw new InvalidInputError([{ source: 'device id', message: `not an id: ${JSON.stringify(device)} (expected [a-z0-9][a-z0-9-]{0,62})` }]);
  }
}

/** Throws {@link InvalidInputError} unless `token` is a join-token id (it becomes a subject token). */
export function assertTokenId(token: string): void {
  if (!TokenId.safeParse(token).success) {
    throw new InvalidInputError([{ source: 'join token id', message: `not a token id: ${JSON.stringify(token)} (expected [a-z2-7]{10})` }]);
  }
}

/** Who is on the other end of a party account: an enrolled device, or the holder of a join token. */
export type Party = { readonly kind: 'device'; readonly id: string } | { readonly kind: 'join'; readonly id: string };

/** Throws {@link InvalidInputError} for a device id or token id that is not one. */
function assertParty(party: Party): void {
  if (party.kind === 'device') assertDeviceId(party.id);
  else assertTokenId(party.id);
}

/**
 * The account of one party: `device-<id>` or `join-<token>`. Device ids and token ids hold no
 * uppercase letter and the prefixes differ, so no party's account is another's or CONTROL.
 */
export function partyAccount(party: Party): string {
  assertParty(party);
  return `${party.kind}-${party.id}`;
}

/** `onionfleet.<kind>.<id>`: the root of one party's subjects. */
function partyRoot(party: Party): string {
  assertParty(party);
  return `onionfleet.${party.kind}.${party.id}`;
}

/** What a party sends up, and what the gateway sends down. */
export const UP_OPS = { device: ['desired', 'status', 'backup', 'restore'], join: ['request'] } as const;

/** Subjects a party publishes to: `onionfleet.<kind>.<id>.up.<op>` (exported to CONTROL). */
export function upSubject(party: Party, op: string): string {
  return `${partyRoot(party)}.up.${op}`;
}

/** The whole up-tree of a party, `onionfleet.<kind>.<id>.up.>`: what its account exports to CONTROL. */
export function upTree(party: Party): string {
  return `${partyRoot(party)}.up.>`;
}

/** Subjects the gateway publishes to a party: `onionfleet.<kind>.<id>.down.<what>`. */
export function downSubject(party: Party, what: 'desired' | 'answer' | 'restore'): string {
  return `${partyRoot(party)}.down.${what}`;
}

/** The whole down-tree of a party, `onionfleet.<kind>.<id>.down.>`: what its account imports from CONTROL. */
export function downTree(party: Party): string {
  return `${partyRoot(party)}.down.>`;
}

/** What the gateway subscribes to in CONTROL: every party's up-tree. */
export const GATEWAY_UP_SUBJECTS = ['onionfleet.device.*.up.>', 'onionfleet.join.*.up.>'] as const;
/** What the gateway may publish to in CONTROL: every party's down-tree, nothing else. */
export const GATEWAY_DOWN_SUBJECTS = ['onionfleet.device.*.down.>', 'onionfleet.join.*.down.>'] as const;

/** An up message's subject, read back: the party (as the server stamped it) and the op; null otherwise. */
export function parseUpSubject(subject: string): { party: Party; op: string } | null {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'onionfleet' || parts[3] !== 'up') return null;
  const [, kind, id = '', , op = ''] = parts;
  if (kind === 'device' && Id.safeParse(id).success) return { party: { kind, id }, op };
  if (kind === 'join' && TokenId.safeParse(id).success) return { party: { kind, id }, op };
  return null;
}

/** What one nkey user may publish and subscribe to, as nats-server `permissions` data. */
export interface UserPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * The permissions of a party's user inside its own account: publish its up-ops, subscribe to its
 * down-tree. No `allow_responses`, no inbox, no JetStream: a party never answers and never requests.
 * (The account is the wall; these lists are a second one, and make a mistake visible in the log.)
 */
export function partyPermissions(party: Party): UserPermissions {
  const ops: readonly string[] = UP_OPS[party.kind];
  return { publish: ops.map((op) => upSubject(party, op)), subscribe: [downTree(party)] };
}

/** The controller's permissions: the whole CONTROL account (it creates the buckets and reads every status). */
export const CONTROLLER_PERMISSIONS: UserPermissions = { publish: ['>'], subscribe: ['>'] };

/**
 * The gateway's permissions in CONTROL: read the parties' up-trees, write their down-trees. It can
 * publish nothing else — no `$KV`, no `$JS`, no reply subject a party named — whatever it is sent.
 */
export const GATEWAY_PERMISSIONS: UserPermissions = { publish: [...GATEWAY_DOWN_SUBJECTS], subscribe: [...GATEWAY_UP_SUBJECTS] };
