/**
 * Names on the control-plane bus: the two KV buckets, the enrollment subject, per-agent inbox
 * prefixes, and the least-privilege permissions of one agent's nkey user (reference: nats.md,
 * "Per-agent least privilege"). Pure data: no I/O.
 */
import { InvalidInputError } from '../errors.ts';
import { Id } from '../schema/common.ts';
import { TokenId } from '../schema/join-token.ts';

/** The bucket the controller writes each device's desired state to, keyed by device id. History 10. */
export const DESIRED_BUCKET = 'desired';
/** The bucket each agent reports its status to, keyed by its own device id. History 1. */
export const STATUS_BUCKET = 'status';

/** The JetStream stream behind a KV bucket (`KV_<bucket>`). */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/**
 * Throws {@link InvalidInputError} unless `device` is an id (`[a-z0-9][a-z0-9-]{0,62}`). Ids become
 * subject tokens, so a `.`, `*` or `>` in one would widen an agent's permissions.
 */
export function assertDeviceId(device: string): void {
  if (!Id.safeParse(device).success) {
    throw new InvalidInputError([{ source: 'device id', message: `not an id: ${JSON.stringify(device)} (expected [a-z0-9][a-z0-9-]{0,62})` }]);
  }
}

/**
 * The inbox prefix of `device`'s connection: `_INBOX_<device>`. Replies to its requests arrive below
 * it, and its nkey user may subscribe only there, so no agent reads another agent's replies.
 * Throws {@link InvalidInputError} for an invalid device id.
 */
export function inboxPrefix(device: string): string {
  assertDeviceId(device);
  return `_INBOX_${device}`;
}

/** What one nkey user may publish and subscribe to, as nats-server `permissions` data. */
export interface UserPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /** nats-server `allow_responses`: may answer (once) the reply subject of a message it received. */
  readonly allowResponses: boolean;
}

/**
 * The permissions of `device`'s agent, exactly as nats.md prescribes: watch and direct-get its own
 * desired key, write its own status key, answer flow control; subscribe only below its own inbox
 * prefix; `allow_responses` so a watcher does not stall once flow control starts. Nothing else: no
 * stream or consumer management, no other device's keys, no writes to `desired`.
 * Throws {@link InvalidInputError} for an invalid device id.
 */
export function agentPermissions(device: string): UserPermissions {
  assertDeviceId(device);
  const desired = kvStream(DESIRED_BUCKET);
  return {
    publish: [
      `$JS.API.CONSUMER.CREATE.${desired}.*.$KV.${DESIRED_BUCKET}.${device}`,
      `$JS.API.DIRECT.GET.${desired}.$KV.${DESIRED_BUCKET}.${device}`,
      `$KV.${STATUS_BUCKET}.${device}`,
      `$JS.FC.${desired}.>`,
    ],
    subscribe: [`${inboxPrefix(device)}.>`],
    allowResponses: true,
  };
}

/** The controller's permissions: the whole account (it creates the buckets and reads every status). */
export const CONTROLLER_PERMISSIONS: UserPermissions = { publish: ['>'], subscribe: ['>'], allowResponses: false };

/**
 * Join requests (`onionfleet-agent join`) are published on `onionfleet.join.<token id>`; `onionfleet
 * serve` answers them on {@link JOIN_SUBJECT_WILDCARD}.
 */
export const JOIN_SUBJECT_PREFIX = 'onionfleet.join';
/** What the controller's join responder subscribes to: one subject token, the token id. */
export const JOIN_SUBJECT_WILDCARD = `${JOIN_SUBJECT_PREFIX}.*`;

/** Throws {@link InvalidInputError} unless `token` is a join-token id (it becomes a subject token). */
function assertTokenId(token: string): void {
  if (!TokenId.safeParse(token).success) {
    throw new InvalidInputError([{ source: 'join token id', message: `not a token id: ${JSON.stringify(token)} (expected [a-z2-7]{10})` }]);
  }
}

/** `onionfleet.join.<token>`. Throws {@link InvalidInputError} for an invalid token id. */
export function joinSubject(token: string): string {
  assertTokenId(token);
  return `${JOIN_SUBJECT_PREFIX}.${token}`;
}

/**
 * The inbox prefix of a joiner's connection: `_INBOX_join_<token>`. Device ids hold no `_`, so it
 * never equals, nor falls below, a device's `_INBOX_<device>`. Throws {@link InvalidInputError} for
 * an invalid token id.
 */
export function joinInboxPrefix(token: string): string {
  assertTokenId(token);
  return `_INBOX_join_${token}`;
}

/**
 * The one-time user of join token `token`: publish its join request, receive the reply in its own
 * inbox; nothing else (no JetStream, no other subject, no responses to anyone).
 * Throws {@link InvalidInputError} for an invalid token id.
 */
export function joinerPermissions(token: string): UserPermissions {
  return { publish: [joinSubject(token)], subscribe: [`${joinInboxPrefix(token)}.>`], allowResponses: false };
}
