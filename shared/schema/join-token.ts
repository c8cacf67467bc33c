/**
 * Join tokens, and the request and reply they open (`onionfleet token create` → `onionfleet-agent
 * join`). A token is one line, `onionfleet-join:v1:<base64url(JSON)>`, and it is a secret: it holds
 * a one-time NATS seed, a one-time key that opens the controller's NATS onion, and a one-time
 * secret. Nothing here ever quotes a token, or a part of one, in an error. Pure: no I/O.
 */
import { base64urlnopad } from '@scure/base';
import { z } from 'zod';
import { InvalidInputError, type Problem } from '../errors.ts';
import { AgeRecipient, Id } from './common.ts';
import { EnrollmentRecord, SigningPublicKey } from './enrollment.ts';

/** What every token line starts with; the version is part of it. */
export const JOIN_TOKEN_PREFIX = 'onionfleet-join:v1:';
const ANY_VERSION = /^onionfleet-join:(v[0-9]+):/;

/**
 * A token's id: 10 lower-case base32 characters (50 random bits; not a secret). It becomes a NATS
 * subject token and part of an inbox prefix, so it holds no `.`, `*`, `>` or `_`.
 */
export const TokenId = z.string().regex(/^[a-z2-7]{10}$/, { error: 'expected a token id (10 characters a-z, 2-7)' });

/** A NATS user seed (`SU` + 56 base32 characters). Secret. */
export const NatsUserSeed = z.string().regex(/^SU[A-Z2-7]{56}$/, { error: 'expected a NATS user seed (SU…, 58 characters)' });

/** An x25519 client-authorization private key, 52 upper-case base32 characters (docs/reference/tor.md). Secret. */
export const OnionClientPrivateKey = z.string().regex(/^[A-Z2-7]{52}$/, { error: 'expected a 52-character base32 x25519 private key' });

/** 32 random bytes in unpadded base64url (43 characters). Secret. */
export const JoinSecret = z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'expected 43 base64url characters' });

/** A signing key's fingerprint as `keyFingerprint` (shared/crypto/sign.ts) prints it: `SHA256:` + 43 base64 characters. */
export const KeyFingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, { error: 'expected SHA256: followed by 43 base64 characters' });

/** The agents' NATS: `nats://<56>.onion:4222`, or a loopback URL in development and tests. */
export const NatsUrl = z.string().regex(/^nats:\/\/[a-z0-9.-]+:\d{1,5}$/, { error: 'expected nats://HOST:PORT' });

/** What a token line carries (see the module comment); every field is needed by the joiner. */
export const JoinToken = z.strictObject({
  /** Names the token's state file, its NATS subject and its inbox prefix. */
  id: TokenId,
  /** Where the joiner connects. */
  nats: NatsUrl,
  /** Opens the NATS onion for this one join (written as the device's `controller.auth_private`). */
  onionClientKey: OnionClientPrivateKey,
  /** The seed of the one-time NATS user that may only publish this token's join request. */
  natsSeed: NatsUserSeed,
  /** Proves to the controller that the request comes from the token's holder (the controller keeps its SHA-256 only). */
  secret: JoinSecret,
  /** The controller signing key's fingerprint: the reply's keys are checked against it. */
  controller: KeyFingerprint,
  /** The operator the device will belong to. */
  operator: Id,
  /** ISO 8601 (UTC); the controller refuses the token after it. */
  expiresAt: z.iso.datetime({ error: 'expected an ISO 8601 date and time' }),
});
export type JoinToken = z.infer<typeof JoinToken>;

/** The one-line text of `token`. */
export function encodeJoinToken(token: JoinToken): string {
  return `${JOIN_TOKEN_PREFIX}${base64urlnopad.encode(new TextEncoder().encode(JSON.stringify(token)))}`;
}

const SOURCE = 'join token';
const HINT = 'copy the whole line again from `onionfleet token create` (it starts with onionfleet-join:v1:)';

/**
 * Parses a token line (surrounding white space is ignored). Throws {@link InvalidInputError}
 * (exit 2, source `join token`) when it is not one: a wrong prefix or version, damaged base64url or
 * JSON, or a field that is missing or malformed (named by its path). The messages never quote the
 * token or any value in it.
 */
export function parseJoinToken(text: string): JoinToken {
  const line = text.trim();
  const fail = (message: string, path?: string): never => {
    throw new InvalidInputError([{ source: SOURCE, ...(path === undefined ? {} : { path }), message }], { hint: HINT });
  };
  if (!line.startsWith(JOIN_TOKEN_PREFIX)) {
    const version = ANY_VERSION.exec(line)?.[1];
    return fail(version === undefined ? 'not a join token (expected onionfleet-join:v1:…)' : `token version ${version} is not supported by this agent (it reads v1)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64urlnopad.decode(line.slice(JOIN_TOKEN_PREFIX.length))));
  } catch {
    return fail('damaged: its body is not base64url-encoded JSON');
  }
  const parsed = JoinToken.safeParse(raw, { error: quoteNothing });
  if (parsed.success) return parsed.data;
  const problems: Problem[] = parsed.error.issues.map((issue) => ({
    source: SOURCE,
    ...(issue.path.length === 0 ? {} : { path: issue.path.map(String).join('.') }),
    message: issue.message,
  }));
  throw new InvalidInputError(problems, { hint: HINT });
}

/** Error map that names what was expected and never the value found (a token's values are secrets). */
const quoteNothing: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') return issue.input === undefined ? 'required' : `expected ${issue.expected}`;
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => JSON.stringify(k.slice(0, 30))).join(', ')}`;
  return undefined;
};

/** What the joiner publishes on `onionfleet.join.<token id>`. */
export const JoinRequest = z.strictObject({
  kind: z.literal('onionfleet/join-request'),
  version: z.literal(1),
  token: TokenId,
  secret: JoinSecret,
  /** The device's public keys, made on the device (`onionfleet-agent join`). */
  record: EnrollmentRecord,
});
export type JoinRequest = z.infer<typeof JoinRequest>;

/** Why the controller refused a join request (a closed set: the joiner maps each to a sentence). */
export const JOIN_REFUSALS = ['invalid-request', 'unknown-token', 'bad-secret', 'used', 'expired', 'device-taken', 'keys-taken', 'internal'] as const;
export type JoinRefusal = (typeof JOIN_REFUSALS)[number];

/** The controller's public keys, as the agent config holds them. */
export const ControllerKeys = z.strictObject({ signingKey: SigningPublicKey, ageRecipient: AgeRecipient });
export type ControllerKeys = z.infer<typeof ControllerKeys>;

/** The controller enrolled the device as pending; here are its keys, signed. */
export const JoinAccepted = z.strictObject({
  kind: z.literal('onionfleet/join-reply'),
  version: z.literal(1),
  ok: z.literal(true),
  token: TokenId,
  device: Id,
  controller: ControllerKeys,
  /** ed25519 by `controller.signingKey` over {@link joinReplySignedBytes}: base64url, 86 characters. */
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, { error: 'expected an ed25519 signature (86 base64url characters)' }),
});
export type JoinAccepted = z.infer<typeof JoinAccepted>;

/** The controller refused; nothing was recorded and the token is not spent (except, perhaps, on `internal`). */
export const JoinRefused = z.strictObject({
  kind: z.literal('onionfleet/join-reply'),
  version: z.literal(1),
  ok: z.literal(false),
  reason: z.enum(JOIN_REFUSALS),
  /** One sentence for the person at the device (no secrets). */
  message: z.string().max(500),
});
export type JoinRefused = z.infer<typeof JoinRefused>;

/** The controller's answer to a {@link JoinRequest}. */
export const JoinReply = z.discriminatedUnion('ok', [JoinAccepted, JoinRefused]);
export type JoinReply = z.infer<typeof JoinReply>;

/**
 * The bytes the controller signs in an accepted reply: its keys bound to this token, this device id
 * and this device's signing key, so a reply cannot be replayed to another join. One field per line;
 * every field is regex-checked text without line breaks, so the encoding is unambiguous.
 */
export function joinReplySignedBytes(fields: { token: string; device: string; deviceSigningKey: string; controller: ControllerKeys }): Uint8Array {
  return new TextEncoder().encode(['onionfleet-join-reply/v1', fields.token, fields.device, fields.deviceSigningKey, fields.controller.signingKey, fields.controller.ageRecipient].join('\n'));
}
