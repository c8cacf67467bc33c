/**
 * Join tokens: one line that round-trips; anything else is refused with a problem naming the field,
 * and no message ever quotes the token or a value from it (it is a secret). The reply's signed bytes
 * bind every field.
 */
import { createUser } from '@nats-io/nkeys';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clientAuthKeyPair } from '#shared/crypto/onion.ts';
import { generateSigningKey, keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { encodeJoinToken, JOIN_TOKEN_PREFIX, JoinReply, joinReplySignedBytes, parseJoinToken, type JoinToken } from '#shared/schema/join-token.ts';

const token: JoinToken = {
  id: 'abcdefgh23',
  nats: 'nats://127.0.0.1:4222',
  onionClientKey: clientAuthKeyPair().privateKeyBase32,
  natsSeed: new TextDecoder().decode(createUser().getSeed()),
  secret: randomBytes(32).toString('base64url'),
  controller: keyFingerprint(generateSigningKey().publicKey),
  operator: 'bob',
  expiresAt: '2030-01-02T03:04:05.000Z',
};
const line = encodeJoinToken(token);
const secrets = [token.onionClientKey, token.natsSeed, token.secret];
const body = (value: unknown) => `${JOIN_TOKEN_PREFIX}${Buffer.from(JSON.stringify(value)).toString('base64url')}`;

function refusal(text: string): { lines: string[]; all: string } {
  try {
    parseJoinToken(text);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    const lines = err.problems.map((p) => `${p.path ?? ''}: ${p.message}`);
    return { lines, all: `${err.message}\n${err.hint ?? ''}` };
  }
  throw new Error('expected InvalidInputError');
}

describe('join token', () => {
  it('is one line with the version in its prefix, and round-trips (white space around it ignored)', () => {
    expect(line).toMatch(/^onionfleet-join:v1:[A-Za-z0-9_-]+$/);
    expect(parseJoinToken(line)).toEqual(token);
    expect(parseJoinToken(`  ${line}\n`)).toEqual(token);
  });

  it('refuses what is not a token, another version, or a damaged body, in one line', () => {
    expect(refusal('hello').lines).toEqual([': not a join token (expected onionfleet-join:v1:…)']);
    expect(refusal(line.replace(':v1:', ':v2:')).lines).toEqual([': token version v2 is not supported by this agent (it reads v1)']);
    expect(refusal(`${line.slice(0, -5)}!!!!!`).lines).toEqual([': damaged: its body is not base64url-encoded JSON']);
    expect(refusal(line.slice(0, 60)).lines).toEqual([': damaged: its body is not base64url-encoded JSON']);
  });

  it('names each bad or missing field', () => {
    expect(refusal(body({ ...token, natsSeed: 'SUnope', expiresAt: 'soon' })).lines).toEqual([
      'natsSeed: expected a NATS user seed (SU…, 58 characters)',
      'expiresAt: expected an ISO 8601 date and time',
    ]);
    expect(refusal(body({ ...token, secret: undefined })).lines).toEqual(['secret: required']);
    expect(refusal(body({ ...token, nats: 42 })).lines).toEqual(['nats: expected string']);
    expect(refusal(body({ ...token, extra: 1 })).lines).toEqual([': unknown key "extra"']);
    expect(refusal(body({ ...token, id: 'a.b.*' })).lines).toEqual(['id: expected a token id (10 characters a-z, 2-7)']);
  });

  it('never quotes the token or a secret from it', () => {
    const damaged = [
      line.replace(':v1:', ':v9:'),
      `${line}%`,
      body({ ...token, natsSeed: `${token.natsSeed}X`, secret: `${token.secret}!`, onionClientKey: token.onionClientKey.toLowerCase() }),
      body({ ...token, operator: token.secret }),
      body([token.secret]),
      body({ ...token, id: token.secret }),
    ];
    for (const text of damaged) {
      const { all } = refusal(text);
      expect(all).not.toContain(text.slice(JOIN_TOKEN_PREFIX.length, JOIN_TOKEN_PREFIX.length + 20));
      for (const s of secrets) expect(all).not.toContain(s.slice(0, 16));
    }
  });
});

describe('join reply', () => {
  const signing = generateSigningKey().publicKey;
  const controller = { signingKey: signing, ageRecipient: 'age1frmhjxz0ycs9lvhex8wuvz296xs9y6sfzyls2uj98ntqdtmzqarsy4q78d' };
  const fields = { token: 'abcdefgh23', device: 'pi-1', deviceSigningKey: generateSigningKey().publicKey, controller };

  it('signs bytes that change with every field', () => {
    const base = Buffer.from(joinReplySignedBytes(fields)).toString();
    const variants = [
      { ...fields, token: 'abcdefgh24' },
      { ...fields, device: 'pi-2' },
      { ...fields, deviceSigningKey: generateSigningKey().publicKey },
      { ...fields, controller: { ...controller, signingKey: generateSigningKey().publicKey } },
      { ...fields, controller: { ...controller, ageRecipient: 'age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq' } },
    ];
    for (const v of variants) expect(Buffer.from(joinReplySignedBytes(v)).toString()).not.toBe(base);
  });

  it('is either accepted (with keys and a signature) or refused (with a reason from a closed set)', () => {
    expect(JoinReply.safeParse({ kind: 'onionfleet/join-reply', version: 1, ok: false, reason: 'used', message: 'm' }).success).toBe(true);
    expect(JoinReply.safeParse({ kind: 'onionfleet/join-reply', version: 1, ok: false, reason: 'because', message: 'm' }).success).toBe(false);
    expect(JoinReply.safeParse({ kind: 'onionfleet/join-reply', version: 1, ok: true, token: 'abcdefgh23', device: 'pi-1', controller, signature: 'x'.repeat(86) }).success).toBe(true);
    expect(JoinReply.safeParse({ kind: 'onionfleet/join-reply', version: 1, ok: true, token: 'abcdefgh23', device: 'pi-1', controller }).success).toBe(false);
  });
});
