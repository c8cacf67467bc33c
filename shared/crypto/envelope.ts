/**
 * Sealed documents: signed by their writer (ed25519), then encrypted to exactly one reader (age).
 * Desired state goes controller → device, status goes device → controller; both cross the bus only
 * as the output of {@link seal}.
 *
 * **What the bus sees.** Only an age v1 file: its header (one X25519 stanza: an ephemeral public key
 * and the wrapped file key) and a payload whose length tracks the document's. Not the signer, the
 * kind, the device, the revision or the body. (The NATS subject still names the device.)
 *
 * **Why sign-then-encrypt, with the device inside the signature.** Encryption alone authenticates
 * nobody: anyone who knows a device's public `age1…` recipient can encrypt to it. A signature outside
 * the encryption would show the bus who signed and let it strip or swap signatures. So the writer signs
 * first and encrypts the signed bytes. Plain sign-then-encrypt has a known hole ("surreptitious
 * forwarding", Davis 2001): a reader who decrypts a document can re-encrypt the still-valid signed
 * part to someone else. That is why the signed part names its `kind` and its `device`, and why
 * {@link open} checks both: a document signed for device A and re-encrypted to device B is refused by
 * B as `wrong-device`, even though B can decrypt it and the signature verifies.
 *
 * **What the caller still checks.** Freshness: the bus can replay an older sealed document, and only
 * the caller knows the revision it applied, so it calls {@link refuseOlder}. The bus can also drop or
 * delay documents; it cannot read, forge or alter them.
 *
 * **Wire format.** age( `{"sig":<b64url>,"signed":<string>}` ), where `signed` is the canonical JSON
 * ({@link canonicalJson}) of `{"body":…,"device":…,"kind":…,"revision":…,"signer":"ed25519:…","v":1}`
 * and `sig` is the ed25519 signature over exactly the UTF-8 bytes of `signed`. No timestamp: sealing
 * reads no clock.
 */
import { z } from 'zod';
import { EXIT, InvalidInputError, OnionfleetError, type ErrorOptions } from '../errors.ts';
import { AgeError, decryptWith, encryptTo } from './age.ts';
import { publicKeyOf, sign, verify } from './sign.ts';

/** The envelope format version, inside the signed part. */
export const ENVELOPE_VERSION = 1;

/** Why {@link open} (or {@link refuseOlder}) refused a document. */
export const ENVELOPE_REASONS = ['not-for-me', 'malformed', 'bad-signature', 'wrong-kind', 'wrong-device', 'invalid-body', 'older-revision'] as const;
export type EnvelopeReason = (typeof ENVELOPE_REASONS)[number];

const HINTS: Record<EnvelopeReason, string> = {
  'not-for-me': 'it was encrypted to another key, or damaged on the way: check the age recipient recorded for this reader',
  malformed: 'it was not made by onionfleet\'s seal(), or by an incompatible version; nothing was applied',
  'bad-signature': 'it is not signed by the pinned key: check the pinned signing key (keyFingerprint) — or the bus was tampered with',
  'wrong-kind': 'a document of another kind was put under this key: a replay or a bug; nothing was applied',
  'wrong-device': 'it was sealed for another device: a replay or a bug; nothing was applied',
  'invalid-body': 'the signer wrote a document this version does not accept: upgrade the older side',
  'older-revision': 'an older revision than the one applied (a replay?); the last good one stays in force',
};

/** A sealed document was refused; `reason` says why. Exit 2: invalid input, nothing changed. */
export class EnvelopeError extends OnionfleetError {
  readonly code: `envelope-${EnvelopeReason}`;
  readonly exitCode = EXIT.invalid;
  readonly reason: EnvelopeReason;
  constructor(reason: EnvelopeReason, message: string, options: Pick<ErrorOptions, 'cause'> = {}) {
    super(message, { ...options, hint: HINTS[reason] });
    this.reason = reason;
    this.code = `envelope-${reason}`;
  }
}

function notJson(path: string, message: string): InvalidInputError {
  return new InvalidInputError([{ source: 'canonical JSON', path, message }]);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(value: unknown, path: string, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson(path, `${String(value)} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (ancestors.has(value)) throw notJson(path, 'a cycle is not JSON');
      ancestors.add(value);
      try {
        return Array.isArray(value) ? writeArray(value, path, ancestors) : writeObject(value, path, ancestors);
      } finally {
        ancestors.delete(value);
      }
    }
    default:
      throw notJson(path, `${typeof value} is not JSON`);
  }
}

function writeArray(items: readonly unknown[], path: string, ancestors: Set<object>): string {
  const parts: string[] = [];
  for (let i = 0; i < items.length; i++) {
    if (!(i in items)) throw notJson(`${path}[${i}]`, 'a hole in an array is not JSON');
    parts.push(write(items[i], `${path}[${i}]`, ancestors));
  }
  return `[${parts.join(',')}]`;
}

function writeObject(object: object, path: string, ancestors: Set<object>): string {
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) throw notJson(path, 'only plain objects are JSON (not a class instance, Date, Map…)');
  if (Object.getOwnPropertySymbols(object).length > 0) throw notJson(path, 'symbol keys are not JSON');
  const record = object as Record<string, unknown>;
  const members = Object.keys(record).sort(compareCodeUnits).map((key) => {
    const child = path === '' ? key : `${path}.${key}`;
    return `${JSON.stringify(key)}:${write(record[key], child, ancestors)}`;
  });
  return `{${members.join(',')}}`;
}

/**
 * The canonical JSON text of `value`: object keys sorted by UTF-16 code units (as RFC 8785), no
 * whitespace, strings and numbers as `JSON.stringify` writes them (`-0` as `0`). Equal values give
 * equal text whatever order their keys were inserted in, so a signature over the text is a
 * signature over the value.
 *
 * @throws {InvalidInputError} naming the path of the first value that is not plain JSON: `undefined`,
 *   a function, a symbol, a bigint, `NaN` or ±Infinity, an array hole, a non-plain object (Date, Map,
 *   class instance), symbol keys or a cycle. (`JSON.stringify` would drop or rewrite these silently.)
 */
export function canonicalJson(value: unknown): string {
  return write(value, '', new Set());
}

/** A document to seal. `device` is the device it concerns: the reader of desired state, the writer of status. */
export interface Sealable {
  /** What the document is, e.g. `onionfleet/desired-state`; the reader insists on one kind. */
  readonly kind: string;
  readonly device: string;
  /** Monotonic per device and kind; a non-negative integer. */
  readonly revision: number;
  /** Any plain JSON value (see {@link canonicalJson}). */
  readonly body: unknown;
}

export interface SealKeys {
  /** The writer's ed25519 secret key (base64url seed, see ./sign.ts). */
  readonly signingSecretKey: string;
  /** The one reader's age recipient (`age1…`). */
  readonly recipient: string;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/**
 * Signs `doc` with the writer's key and encrypts it to one reader. Returns binary age bytes (not
 * armored: NATS values are bytes). Two seals of one document differ (fresh age keys) but carry the
 * same signed text and, ed25519 being deterministic, the same signature.
 *
 * @throws {InvalidInputError} when `kind` or `device` is empty, `revision` is not a non-negative
 *   safe integer, the body is not plain JSON, or the signing key is malformed.
 * @throws {AgeError} `age-bad-recipient` when `recipient` is not an age recipient.
 */
export async function seal(doc: Sealable, keys: SealKeys): Promise<Uint8Array> {
  const problems = [
    ...(doc.kind === '' ? [{ source: 'envelope', path: 'kind', message: 'must not be empty' }] : []),
    ...(doc.device === '' ? [{ source: 'envelope', path: 'device', message: 'must not be empty' }] : []),
    ...(Number.isSafeInteger(doc.revision) && doc.revision >= 0 ? [] : [{ source: 'envelope', path: 'revision', message: 'expected a non-negative integer' }]),
  ];
  if (problems.length > 0) throw new InvalidInputError(problems);
  const inner = {
    v: ENVELOPE_VERSION, kind: doc.kind, device: doc.device, revision: doc.revision,
    signer: publicKeyOf(keys.signingSecretKey), body: doc.body,
  };
  const signed = canonicalJson(inner);
  const outer = canonicalJson({ signed, sig: sign(keys.signingSecretKey, utf8(signed)) });
  return encryptTo([keys.recipient], utf8(outer));
}

/** What the reader insists on. */
export interface OpenExpectations<S extends z.ZodType> {
  /** The reader's own age identity (`AGE-SECRET-KEY-1…`). */
  readonly identity: string;
  /** The pinned `ed25519:…` key of the writer; the key named inside the document is never trusted. */
  readonly signer: string;
  readonly kind: string;
  readonly device: string;
  /** Parses the body; its output is what {@link open} returns. */
  readonly schema: S;
}

const Outer = z.strictObject({ signed: z.string(), sig: z.string() });
const Inner = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  kind: z.string(),
  device: z.string(),
  revision: z.int().min(0),
  signer: z.string(),
  body: z.unknown(), // zod 4 still requires the key to be present
});

/** Zod issues as `path: code` lines: where and what kind of problem, never the values (bodies hold secrets). */
function issueSummary(issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.slice(0, 5).map((issue) => {
    const path = issue.path.map((seg) => (typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`)).join('').replace(/^\./, '');
    const what = issue.code !== 'invalid_type' ? issue.code.replace(/_/g, ' ')
      : issue.expected === 'nonoptional' ? 'required' : `expected ${issue.expected}`;
    return `${path === '' ? '(root)' : path}: ${what}`;
  });
  return issues.length > 5 ? `${lines.join('; ')}; and ${issues.length - 5} more` : lines.join('; ');
}

/** JSON.parse without its error: V8's message quotes the input, which may be decrypted secrets. */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new EnvelopeError('malformed', `${what} is not JSON`);
  }
}

/**
 * Decrypts, verifies and parses a sealed document. Checks, in order: it decrypts with `identity`;
 * the outer JSON has `signed` and `sig`; `sig` verifies over exactly the bytes of `signed` with the
 * **expected** signer key; `signed` is canonical JSON of a version-1 document naming that same
 * signer; its kind and device are the expected ones; the revision is a non-negative integer; the body
 * passes `schema`. Does not check freshness: call {@link refuseOlder} with the applied revision.
 *
 * @throws {EnvelopeError} `not-for-me` (does not decrypt with `identity`: another reader's, or
 *   damaged), `malformed`, `bad-signature`, `wrong-kind`, `wrong-device` or `invalid-body` (zod
 *   problems as paths and codes, without values).
 * @throws {AgeError} `age-bad-identity` when `identity` itself is not an age identity.
 */
export async function open<S extends z.ZodType>(ciphertext: Uint8Array, expect: OpenExpectations<S>): Promise<{ revision: number; body: z.infer<S> }> {
  let plain: Uint8Array;
  try {
    plain = await decryptWith([expect.identity], ciphertext);
  } catch (err) {
    if (err instanceof AgeError && err.code === 'age-decrypt-failed') {
      throw new EnvelopeError('not-for-me', 'the sealed document does not decrypt with this identity', { cause: err });
    }
    throw err;
  }
  let outerText: string;
  try {
    outerText = new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    throw new EnvelopeError('malformed', 'the envelope is not UTF-8');
  }
  const outer = Outer.safeParse(parseJson(outerText, 'the envelope'));
  if (!outer.success) throw new EnvelopeError('malformed', `the envelope is not {signed, sig}: ${issueSummary(outer.error.issues)}`);

  if (!verify(expect.signer, utf8(outer.data.signed), outer.data.sig)) {
    throw new EnvelopeError('bad-signature', 'the signature does not verify with the expected signer key');
  }

  const value = parseJson(outer.data.signed, 'the signed document');
  let canonical: boolean;
  try {
    canonical = canonicalJson(value) === outer.data.signed;
  } catch {
    canonical = false;
  }
  // Exactly one text per document: no duplicate keys or number spellings that parsers could read differently.
  if (!canonical) throw new EnvelopeError('malformed', 'the signed document is not canonical JSON');
  const inner = Inner.safeParse(value);
  if (!inner.success) {
    throw new EnvelopeError('malformed', `the signed document is not a version-${ENVELOPE_VERSION} envelope: ${issueSummary(inner.error.issues)}`);
  }
  const doc = inner.data;
  if (doc.signer !== expect.signer) throw new EnvelopeError('bad-signature', 'the document names another signer than the expected key');
  if (doc.kind !== expect.kind) throw new EnvelopeError('wrong-kind', `expected a ${JSON.stringify(expect.kind)} document, got ${JSON.stringify(doc.kind)}`);
  if (doc.device !== expect.device) {
    throw new EnvelopeError('wrong-device', `the document was sealed for device ${JSON.stringify(doc.device)}, not ${JSON.stringify(expect.device)}`);
  }
  const body = expect.schema.safeParse(doc.body);
  if (!body.success) throw new EnvelopeError('invalid-body', `the ${doc.kind} body is invalid: ${issueSummary(body.error.issues)}`);
  return { revision: doc.revision, body: body.data };
}

/**
 * Refuses a document older than the one applied. An equal revision passes: re-delivery of the
 * current document is harmless (applying is idempotent).
 *
 * @throws {EnvelopeError} `older-revision` when `revision < applied`.
 */
export function refuseOlder(revision: number, applied: number): void {
  if (revision < applied) throw new EnvelopeError('older-revision', `revision ${revision} is older than the applied revision ${applied}`);
}
