/**
 * Sealed documents: each refusal has a test that hand-builds the one defect it is about (with the
 * real keys for everything else), so removing that check from open() makes the test fail.
 */
import { fc, test } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../support/runs.ts';
import { desiredState } from '../../builders/desired.ts';
import { generateAgeIdentity, encryptTo, type AgeKeyPair } from '#shared/crypto/age.ts';
import { canonicalJson, EnvelopeError, open, refuseOlder, seal, type EnvelopeReason } from '#shared/crypto/envelope.ts';
import { generateSigningKey, sign } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';

const KIND = 'onionfleet/desired-state';
const Body = z.strictObject({ password: z.string().min(16), ports: z.array(z.int()) });
const BODY = { password: 'correct-horse-battery-staple', ports: [5223, 443] };
const controller = generateSigningKey();
const stranger = generateSigningKey();
let a: AgeKeyPair;
let b: AgeKeyPair;
beforeAll(async () => {
  [a, b] = await Promise.all([generateAgeIdentity(), generateAgeIdentity()]);
});

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
/** What device `b` insists on. */
const asB = () => ({ identity: b.identity, signer: controller.publicKey, kind: KIND, device: 'b', schema: Body });

/** An envelope built by hand: `inner` as given (canonical unless `signedText` overrides), signed by `secret`, encrypted to b. */
async function handmade(inner: unknown, secret = controller.secretKey, signedText?: string): Promise<Uint8Array> {
  const signed = signedText ?? canonicalJson(inner);
  return encryptTo([b.recipient], utf8(JSON.stringify({ signed, sig: sign(secret, utf8(signed)) })));
}
const innerFor = (over: Record<string, unknown> = {}) => ({ v: 1, kind: KIND, device: 'b', revision: 3, signer: controller.publicKey, body: BODY, ...over });

async function refusal(ciphertext: Uint8Array | Promise<Uint8Array>, expect_ = asB()): Promise<EnvelopeError> {
  const error: unknown = await open(await ciphertext, expect_).then(() => null, (err: unknown) => err);
  if (!(error instanceof EnvelopeError)) throw new Error(`expected an EnvelopeError, got ${String(error)}`);
  return error;
}

describe('seal → open', () => {
  it('round trips revision and body for the intended reader', async () => {
    const sealed = await seal({ kind: KIND, device: 'b', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    expect(await open(sealed, asB())).toEqual({ revision: 3, body: BODY });
  });

  it('puts only age ciphertext on the bus: no body, device, kind or signer in the bytes', async () => {
    const sealed = await seal({ kind: KIND, device: 'b', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    const text = Buffer.from(sealed).toString('latin1');
    expect(text.startsWith('age-encryption.org/v1\n')).toBe(true);
    for (const leak of [BODY.password, KIND, controller.publicKey.slice(8), '"device"']) expect(text).not.toContain(leak);
  });

  it('carries a real DesiredState through its schema', async () => {
    const desired = desiredState();
    const sealed = await seal({ kind: KIND, device: desired.device, revision: desired.revision, body: desired }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    const opened = await open(sealed, { ...asB(), device: desired.device, schema: DesiredState });
    expect(opened.body).toEqual(desired);
  });

  // A key named "__proto__" does not survive z.json()'s copy of the body (a JavaScript object cannot
  // hold it as a plain key); onionfleet's documents are strict objects that never have one.
  const jsonBody = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"'));
  test.prop([jsonBody, fc.nat()], { numRuns: runs(40) })('round trips any JSON body', async (body, revision) => {
    const sealed = await seal({ kind: KIND, device: 'b', revision, body }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    const opened = await open(sealed, { ...asB(), schema: z.json() });
    expect(opened.revision).toBe(revision);
    expect(opened.body).toEqual(JSON.parse(JSON.stringify(body)));
  });
});

describe('open refuses', () => {
  const expectReason = (error: EnvelopeError, reason: EnvelopeReason) => {
    expect(error.reason).toBe(reason);
    expect(error.code).toBe(`envelope-${reason}`);
    expect(error.exitCode).toBe(2);
    expect(error.hint).toBeTypeOf('string');
    expect(error.message).not.toContain(BODY.password);
  };

  it('a document signed by another key that names the expected signer: bad-signature', async () => {
    expectReason(await refusal(handmade(innerFor(), stranger.secretKey)), 'bad-signature');
  });
  it('a document sealed with another signing key: bad-signature', async () => {
    const sealed = seal({ kind: KIND, device: 'b', revision: 3, body: BODY }, { signingSecretKey: stranger.secretKey, recipient: b.recipient });
    expectReason(await refusal(sealed), 'bad-signature');
  });
  it('a validly signed document that names another signer: bad-signature', async () => {
    expectReason(await refusal(handmade(innerFor({ signer: stranger.publicKey }))), 'bad-signature');
  });
  it("A's document cannot be opened by B, even with B's identity: not-for-me", async () => {
    const sealed = seal({ kind: KIND, device: 'a', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: a.recipient });
    expectReason(await refusal(sealed, { ...asB(), device: 'a' }), 'not-for-me');
    expectReason(await refusal(sealed), 'not-for-me');
  });
  it("a document encrypted to B but sealed for device A (a forwarded replay): wrong-device", async () => {
    const sealed = seal({ kind: KIND, device: 'a', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    const error = await refusal(sealed);
    expectReason(error, 'wrong-device');
    expect(error.message).toContain('"a"');
  });
  it('another kind of document: wrong-kind', async () => {
    const sealed = seal({ kind: 'onionfleet/status', device: 'b', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    expectReason(await refusal(sealed), 'wrong-kind');
  });
  it('a body the schema rejects: invalid-body, naming paths but no values', async () => {
    const body = { password: 'short-secret-pw', ports: [1, 'x'] };
    const error = await refusal(seal({ kind: KIND, device: 'b', revision: 3, body }, { signingSecretKey: controller.secretKey, recipient: b.recipient }));
    expectReason(error, 'invalid-body');
    expect(error.message).toContain('password: too small');
    expect(error.message).toContain('ports[1]: expected number');
    expect(error.message).not.toContain('short-secret-pw');
  });
  it('any flipped ciphertext byte: not-for-me (or malformed)', async () => {
    const sealed = await seal({ kind: KIND, device: 'b', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient });
    for (const at of [0, 30, 60, 100, sealed.length - 20, sealed.length - 1]) {
      const tampered = sealed.slice();
      tampered[at] = (tampered[at] ?? 0) ^ 0x01;
      const error = await refusal(tampered);
      expect(['not-for-me', 'malformed']).toContain(error.reason);
    }
    expectReason(await refusal(sealed.slice(0, -1)), 'not-for-me');
  });
  it('outer bytes that are not {signed, sig} JSON: malformed', async () => {
    expectReason(await refusal(encryptTo([b.recipient], utf8('not json'))), 'malformed');
    expectReason(await refusal(encryptTo([b.recipient], utf8(JSON.stringify({ signed: '{}' })))), 'malformed');
    expectReason(await refusal(encryptTo([b.recipient], new Uint8Array([0xff, 0xfe]))), 'malformed');
  });
  it('a signed part that is not canonical (extra whitespace, duplicate keys): malformed', async () => {
    const canonical = canonicalJson(innerFor());
    expectReason(await refusal(handmade(null, undefined, ` ${canonical}`)), 'malformed');
    const duplicate = canonical.replace('"device":"b"', '"device":"a","device":"b"');
    expectReason(await refusal(handmade(null, undefined, duplicate)), 'malformed');
  });
  it.each([
    ['a negative revision', { revision: -1 }],
    ['a fractional revision', { revision: 1.5 }],
    ['another envelope version', { v: 2 }],
    ['an unknown field', { extra: true }],
  ])('a signed document with %s: malformed', async (_label, over) => {
    expectReason(await refusal(handmade(innerFor(over))), 'malformed');
  });
  it('a signed document without a body: malformed', async () => {
    const withoutBody: Record<string, unknown> = innerFor();
    delete withoutBody.body;
    expectReason(await refusal(handmade(withoutBody)), 'malformed');
  });
  it('a malformed expected signer key: bad-signature, never a pass', async () => {
    expectReason(await refusal(seal({ kind: KIND, device: 'b', revision: 3, body: BODY }, { signingSecretKey: controller.secretKey, recipient: b.recipient }), { ...asB(), signer: 'ed25519:' }), 'bad-signature');
  });
});

describe('seal refuses', () => {
  const keys = () => ({ signingSecretKey: controller.secretKey, recipient: b.recipient });
  it.each([
    ['an empty kind', { kind: '', device: 'b', revision: 1, body: null }],
    ['an empty device', { kind: KIND, device: '', revision: 1, body: null }],
    ['a negative revision', { kind: KIND, device: 'b', revision: -1, body: null }],
    ['a fractional revision', { kind: KIND, device: 'b', revision: 0.5, body: null }],
    ['an undefined field in the body', { kind: KIND, device: 'b', revision: 1, body: { quota: undefined } }],
  ])('%s with InvalidInputError', async (_label, doc) => {
    await expect(seal(doc, keys())).rejects.toThrow(InvalidInputError);
  });
});

describe('refuseOlder', () => {
  it('refuses a lower revision and lets an equal or higher one pass', () => {
    expect(() => { refuseOlder(4, 5); }).toThrow(expect.objectContaining({ reason: 'older-revision' }));
    expect(() => { refuseOlder(5, 5); }).not.toThrow();
    expect(() => { refuseOlder(6, 5); }).not.toThrow();
  });
});

describe('canonicalJson', () => {
  it('writes sorted keys, no whitespace, at every depth', () => {
    expect(canonicalJson({ b: [1, { z: true, a: null }], a: 'x', é: -0, A: 1e21 })).toBe('{"A":1e+21,"a":"x","b":[1,{"a":null,"z":true}],"é":0}');
  });
  it('sorts keys by UTF-16 code units', () => {
    expect(canonicalJson({ '\u{1F600}': 1, '\uFB01': 2, a: 3 })).toBe('{"a":3,"\u{1F600}":1,"\uFB01":2}');
  });
  it.each([
    ['NaN', { a: Number.NaN }, 'a'],
    ['Infinity', [1, Infinity], '[1]'],
    ['undefined', { a: { b: undefined } }, 'a.b'],
    ['a function', { f: () => 1 }, 'f'],
    ['a bigint', { n: 1n }, 'n'],
    ['a Date', { at: new Date(0) }, 'at'],
    ['a Map', new Map(), ''],
    ['an array hole', { xs: [1, , 3] }, 'xs[1]'],
  ])('rejects %s, naming the path', (_label, value, path) => {
    expect(() => canonicalJson(value)).toThrow(InvalidInputError);
    try {
      canonicalJson(value);
    } catch (err) {
      expect((err as InvalidInputError).problems[0]?.path).toBe(path);
    }
  });
  it('rejects a cycle', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
  });
  it('accepts a shared (non-cyclic) subtree', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  const shuffled = (value: unknown, seed: number): unknown => {
    if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const rotated = entries.map((_, i) => entries[(i + seed) % entries.length]!).reverse();
    return Object.fromEntries(rotated.map(([k, v]) => [k, shuffled(v, seed + 1)]));
  };
  test.prop([fc.jsonValue(), fc.nat(50)], { numRuns: runs(200) })('is independent of key order and stable through parse', (value, seed) => {
    const text = canonicalJson(value);
    expect(canonicalJson(shuffled(value, seed))).toBe(text);
    expect(canonicalJson(JSON.parse(text))).toBe(text);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
  });
});
