/**
 * Whether a join request may enroll a device as pending: a decision from the request and facts read
 * beforehand (the token, the registered and pending devices, the clock). No I/O: the responder reads
 * the facts, calls {@link decideJoin}, and acts on the answer.
 */
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { JoinRefusal, JoinRequest } from '#shared/schema/join-token.ts';
import type { PendingDevice } from '../state/pending.ts';
import { secretMatches, tokenState, type TokenRecord } from '../state/tokens.ts';

/** What the decision needs, read by the caller just before deciding. */
export interface JoinFacts {
  /** The token the request names; null when the controller has none by that id. */
  readonly token: TokenRecord | null;
  readonly devices: readonly EnrollmentRecord[];
  readonly pending: readonly PendingDevice[];
  readonly now: Date;
}

/** Accepted (with the token to spend), or refused with a reason from a closed set and one sentence. */
export type JoinDecision =
  | { readonly ok: true; readonly token: TokenRecord }
  | { readonly ok: false; readonly reason: JoinRefusal; readonly message: string };

const NEW_TOKEN = 'ask the admin for a new one (`onionfleet token create`)';

/**
 * Accepts or refuses `request`, with one sentence for the person at the device. Order, and why:
 * the token must exist; its secret is checked before its state, so only the token's holder learns
 * whether it was used or expired; a used or expired token is refused before its record is looked
 * at; then the device id, then the keys. A device that retries with a new token — same id, same
 * keys as its pending record — is accepted again (its pending record is replaced).
 */
export function decideJoin(request: JoinRequest, facts: JoinFacts): JoinDecision {
  const { token, now } = facts;
  const refuse = (reason: JoinRefusal, message: string): JoinDecision => ({ ok: false, reason, message });
  if (token === null) return refuse('unknown-token', `the controller knows no join token ${request.token}: ${NEW_TOKEN}`);
  if (!secretMatches(token, request.secret)) return refuse('bad-secret', 'the token\'s secret does not match: the token was altered or mistyped; copy the whole line again');
  const state = tokenState(token, now);
  if (state === 'used') return refuse('used', `this join token was already used (${token.usedAt ?? ''}); tokens are single-use: ${NEW_TOKEN}`);
  if (state === 'expired') return refuse('expired', `this join token expired at ${token.expiresAt}: ${NEW_TOKEN}`);
  const { record } = request;
  const retry = facts.pending.find((p) => p.record.device === record.device);
  const sameDevice = retry !== undefined && sameKeys(retry.record, record);
  if (facts.devices.some((d) => d.device === record.device) || (retry !== undefined && !sameDevice)) {
    return refuse('device-taken', `device id "${record.device}" is already enrolled or waiting for approval at the controller: choose another --device`);
  }
  const others = [...facts.devices, ...facts.pending.map((p) => p.record)].filter((r) => r.device !== record.device);
  const clash = others.find((r) => r.natsUser === record.natsUser || r.signingKey === record.signingKey || r.ageRecipient === record.ageRecipient || r.onionClientKey === record.onionClientKey);
  if (clash !== undefined) return refuse('keys-taken', `these keys already belong to device "${clash.device}" at the controller: each device makes its own keys`);
  return { ok: true, token };
}

function sameKeys(a: EnrollmentRecord, b: EnrollmentRecord): boolean {
  return a.natsUser === b.natsUser && a.signingKey === b.signingKey && a.ageRecipient === b.ageRecipient && a.onionClientKey === b.onionClientKey;
}
