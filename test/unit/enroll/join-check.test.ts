/**
 * decideJoin: the refusals of a join request, in their order (the secret before the token's state,
 * the state before the record), and the retry of a pending device with a new token.
 */
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { decideJoin, type JoinFacts } from '../../../controller/enroll/join-check.ts';
import type { PendingDevice } from '../../../controller/state/pending.ts';
import { secretDigest, type TokenRecord } from '../../../controller/state/tokens.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { clientAuthKeyPair } from '#shared/crypto/onion.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { JoinRequest } from '#shared/schema/join-token.ts';

const SECRET = 'S'.repeat(43);
const now = new Date('2030-01-01T12:00:00.000Z');

async function record(device: string): Promise<EnrollmentRecord> {
  return {
    kind: 'onionfleet/enrollment', version: 1, device, signingKey: generateSigningKey().publicKey,
    ageRecipient: (await generateAgeIdentity()).recipient, natsUser: createUser().getPublicKey(), onionClientKey: clientAuthKeyPair().publicKeyBase32,
  };
}

const token = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  kind: 'onionfleet/join-token', version: 1, id: 'abcdefgh23', operator: 'bob', createdAt: '2030-01-01T00:00:00.000Z',
  expiresAt: '2030-01-02T00:00:00.000Z', secretSha256: secretDigest(SECRET), natsUser: createUser().getPublicKey(),
  onionClientKey: clientAuthKeyPair().publicKeyBase32, usedAt: null, usedBy: null, ...over,
});

const pending = (r: EnrollmentRecord): PendingDevice => ({ kind: 'onionfleet/pending-device', version: 1, record: r, operator: 'bob', token: 'zzzzzzzzzz', requestedAt: now.toISOString() });

describe('decideJoin', async () => {
  const joiner = await record('pi-new');
  const request: JoinRequest = { kind: 'onionfleet/join-request', version: 1, token: 'abcdefgh23', secret: SECRET, record: joiner };
  const facts: JoinFacts = { token: token(), devices: [await record('pi-old')], pending: [], now };
  const reason = (r: JoinRequest, f: Partial<JoinFacts>) => {
    const d = decideJoin(r, { ...facts, ...f });
    return d.ok ? 'accepted' : d.reason;
  };

  it('accepts a live token with its secret and a fresh device', () => {
    expect(reason(request, {})).toBe('accepted');
  });

  it('refuses unknown tokens, wrong secrets, used and expired tokens', () => {
    expect(reason(request, { token: null })).toBe('unknown-token');
    expect(reason({ ...request, secret: 'T'.repeat(43) }, {})).toBe('bad-secret');
    expect(reason(request, { token: token({ usedAt: now.toISOString(), usedBy: 'pi-x' }) })).toBe('used');
    expect(reason(request, { token: token({ expiresAt: now.toISOString() }) })).toBe('expired');
  });

  it('checks the secret before the state: a used token with a wrong secret says bad-secret', () => {
    expect(reason({ ...request, secret: 'T'.repeat(43) }, { token: token({ usedAt: now.toISOString(), usedBy: 'pi-x', expiresAt: '2000-01-01T00:00:00.000Z' }) })).toBe('bad-secret');
    expect(reason(request, { token: token({ usedAt: now.toISOString(), usedBy: 'pi-x', expiresAt: '2000-01-01T00:00:00.000Z' }) })).toBe('used');
  });

  it('refuses a device id that is enrolled or pending with other keys, and keys that belong to another device', async () => {
    const old = facts.devices[0]!;
    expect(reason({ ...request, record: { ...joiner, device: 'pi-old' } }, {})).toBe('device-taken');
    expect(reason(request, { pending: [pending(await record('pi-new'))] })).toBe('device-taken');
    expect(reason({ ...request, record: { ...joiner, natsUser: old.natsUser } }, {})).toBe('keys-taken');
    expect(reason({ ...request, record: { ...joiner, onionClientKey: old.onionClientKey } }, {})).toBe('keys-taken');
    const other = await record('pi-other');
    expect(reason({ ...request, record: { ...joiner, ageRecipient: other.ageRecipient } }, { pending: [pending(other)] })).toBe('keys-taken');
  });

  it('accepts the same device again (same id, same keys) with a new token', () => {
    expect(reason(request, { pending: [pending(joiner)] })).toBe('accepted');
  });

  it('says how to go on, and quotes no secret', () => {
    const d = decideJoin(request, { ...facts, token: token({ expiresAt: '2029-12-31T00:00:00.000Z' }) });
    expect(d).toEqual({ ok: false, reason: 'expired', message: 'this join token expired at 2029-12-31T00:00:00.000Z: ask the admin for a new one (`onionfleet token create`)' });
  });
});
