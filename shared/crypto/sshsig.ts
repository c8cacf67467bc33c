/**
 * OpenSSH signatures (the SSHSIG format of `ssh-keygen -Y sign`, OpenSSH's PROTOCOL.sshsig) made and
 * checked in this process with the same Ed25519 keys as ./sign.ts, so that anyone can check a
 * file onionfleet signed with the `ssh-keygen -Y verify` they already have (OpenSSH ≥ 8.1 on Linux,
 * macOS and Windows), given one `allowed_signers` line.
 *
 * Format contract (PROTOCOL.sshsig): the armored blob is
 * `"SSHSIG" uint32(1) string(publickey) string(namespace) string("") string("sha512") string(signature)`
 * and the signature is Ed25519 over
 * `"SSHSIG" string(namespace) string("") string("sha512") string(SHA-512(message))`;
 * publickey and signature are OpenSSH wire blobs (`string("ssh-ed25519") string(32 or 64 bytes)`).
 * Everything here is a function of its arguments; the messages never contain key material.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors.ts';
import { signerOf, verify } from './sign.ts';

const MAGIC = Buffer.from('SSHSIG');
const KEY_TYPE = 'ssh-ed25519';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** ssh-keygen wraps the armor's base64 at 70 columns. */
const WRAP_LINES = /.{1,70}/g;
const PUBLIC_PREFIX = 'ed25519:';

/** Why {@link verifySshSignature} refused: a closed set, with a sentence in `message`. */
export type SshSignatureRejection = 'malformed' | 'wrong-namespace' | 'unsupported' | 'bad-signature';

export type SshSignatureCheck =
  | { readonly ok: true; /** The signer, as `ed25519:…` (./sign.ts). */ readonly key: string }
  | { readonly ok: false; readonly reason: SshSignatureRejection; readonly message: string };

const str = (bytes: Uint8Array | string): Buffer => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

function rawKey(publicKey: string): Buffer {
  const raw = publicKey.startsWith(PUBLIC_PREFIX) ? Buffer.from(publicKey.slice(PUBLIC_PREFIX.length), 'base64url') : Buffer.alloc(0);
  if (raw.length !== 32 || `${PUBLIC_PREFIX}${raw.toString('base64url')}` !== publicKey) {
    throw new InvalidInputError([{ source: 'signing public key', message: 'expected ed25519:<43 base64url characters>' }]);
  }
  return raw;
}

/** OpenSSH's wire blob of an Ed25519 public key. */
const keyBlob = (publicKey: string): Buffer => Buffer.concat([str(KEY_TYPE), str(rawKey(publicKey))]);

/**
 * The key as OpenSSH writes it: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA…` (no comment).
 *
 * @throws {InvalidInputError} when `publicKey` is not `ed25519:` + base64url of 32 bytes.
 */
export function sshPublicKey(publicKey: string): string {
  return `${KEY_TYPE} ${keyBlob(publicKey).toString('base64')}`;
}

/**
 * The key's OpenSSH fingerprint, as `ssh-keygen -l` and `ssh-keygen -Y verify` print it:
 * `SHA256:` + base64 (no padding) of SHA-256 over the wire blob. (Not ./sign.ts's
 * `keyFingerprint`, which hashes the bare 32 bytes.)
 *
 * @throws {InvalidInputError} when `publicKey` is not `ed25519:` + base64url of 32 bytes.
 */
export function sshFingerprint(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(keyBlob(publicKey)).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The `ed25519:…` key of an OpenSSH `ssh-ed25519 AAAA…` key text (a trailing comment is ignored),
 * or null when it is anything else.
 */
export function parseSshPublicKey(text: string): string | null {
  const m = /^ssh-ed25519 ([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/.exec(text.trim());
  if (m === null) return null;
  const blob = Buffer.from(m[1] ?? '', 'base64');
  const fields = readStrings(blob, 2);
  if (fields === null || fields.rest !== blob.length || fields.values[0]?.toString() !== KEY_TYPE || fields.values[1]?.length !== 32) return null;
  return `${PUBLIC_PREFIX}${fields.values[1].toString('base64url')}`;
}

/**
 * One line of an OpenSSH `allowed_signers` file: `ssh-keygen -Y verify -f FILE -I <principal>
 * -n <namespace>` accepts the key's signatures in that namespace for that principal.
 *
 * @throws {InvalidInputError} when `publicKey` is malformed, or `principal`/`namespace` hold
 *   characters the file format cannot carry unquoted (space, comma, quote, `*`, `?`, `!`).
 */
export function allowedSignersLine(principal: string, publicKey: string, namespace: string): string {
  const plain = /^[A-Za-z0-9._@+-]+$/;
  if (!plain.test(principal) || !plain.test(namespace)) throw new InvalidInputError([{ source: 'allowed_signers', message: 'principal and namespace must be letters, digits and ._@+-' }]);
  return `${principal} namespaces="${namespace}" ${sshPublicKey(publicKey)}`;
}

function signedData(namespace: string, message: Uint8Array): Buffer {
  const hash = createHash('sha512').update(message).digest();
  return Buffer.concat([MAGIC, str(namespace), str(''), str('sha512'), str(hash)]);
}

/**
 * A function that makes the armored SSH signature (`-----BEGIN SSH SIGNATURE-----` …, ending with
 * a newline) of a message in `namespace`, byte for byte what `ssh-keygen -Y sign -n <namespace>`
 * writes with the same key (Ed25519 is deterministic). The key is parsed once: for many files.
 *
 * @throws {InvalidInputError} when a key is malformed.
 */
export function sshSigner(secretKey: string, publicKey: string, namespace: string): (message: Uint8Array) => string {
  const signRaw = signerOf(secretKey);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(1);
  const head = Buffer.concat([MAGIC, version, str(keyBlob(publicKey)), str(namespace), str(''), str('sha512')]);
  return (message) => {
    const signature = Buffer.concat([str(KEY_TYPE), str(signRaw(signedData(namespace, message)))]);
    const lines = Buffer.concat([head, str(signature)]).toString('base64').match(WRAP_LINES) ?? [];
    return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
  };
}

/**
 * The armored SSH signature of one `message` in `namespace` ({@link sshSigner} for many).
 *
 * @throws {InvalidInputError} when a key is malformed.
 */
export function sshSign(secretKey: string, publicKey: string, namespace: string, message: Uint8Array): string {
  return sshSigner(secretKey, publicKey, namespace)(message);
}

/** `count` SSH strings from the start of `buf`: their bytes and where the next field begins; null when short. */
function readStrings(buf: Buffer, count: number, from = 0): { values: Buffer[]; rest: number } | null {
  const values: Buffer[] = [];
  let at = from;
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.length) return null;
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) return null;
    values.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return { values, rest: at };
}

const refuse = (reason: SshSignatureRejection, message: string): SshSignatureCheck => ({ ok: false, reason, message });

/**
 * Checks an armored SSH signature over `message` in `namespace` and returns its signer. Only what
 * {@link sshSign} and `ssh-keygen -Y sign` make with an Ed25519 key is accepted (SHA-512 or
 * SHA-256 message hash). Which signer to trust is the caller's decision. Never throws.
 */
export function verifySshSignature(armored: string, namespace: string, message: Uint8Array): SshSignatureCheck {
  const m = new RegExp(`^\\s*${BEGIN}\\r?\\n([A-Za-z0-9+/=\\r\\n]+)${END}\\s*$`).exec(armored);
  if (m === null) return refuse('malformed', 'not an armored SSH signature');
  const blob = Buffer.from((m[1] ?? '').replace(/\s/g, ''), 'base64');
  if (blob.length < 10 || !blob.subarray(0, 6).equals(MAGIC) || blob.readUInt32BE(6) !== 1) return refuse('malformed', 'not an SSHSIG version 1 signature');
  const fields = readStrings(blob, 5, 10);
  if (fields === null || fields.rest !== blob.length) return refuse('malformed', 'the SSH signature is truncated or has trailing bytes');
  const [keyField, ns, reserved, hashAlg, sigField] = fields.values as [Buffer, Buffer, Buffer, Buffer, Buffer];
  const key = readStrings(keyField, 2);
  const sig = readStrings(sigField, 2);
  if (key === null || sig === null || key.rest !== keyField.length || sig.rest !== sigField.length) return refuse('malformed', 'the SSH signature holds a malformed key or signature');
  if (key.values[0]?.toString() !== KEY_TYPE || sig.values[0]?.toString() !== KEY_TYPE || key.values[1]?.length !== 32) return refuse('unsupported', 'the SSH signature is not made with an Ed25519 key');
  if (ns.toString() !== namespace) return refuse('wrong-namespace', `the SSH signature is for namespace "${ns.toString().slice(0, 40)}", not "${namespace}"`);
  const alg = hashAlg.toString();
  if (alg !== 'sha512' && alg !== 'sha256') return refuse('unsupported', 'the SSH signature uses an unknown hash');
  const hash = createHash(alg).update(message).digest();
  const data = Buffer.concat([MAGIC, str(ns), str(reserved), str(hashAlg), str(hash)]);
  const publicKey = `${PUBLIC_PREFIX}${key.values[1].toString('base64url')}`;
  if (!verify(publicKey, data, Buffer.from(sig.values[1] ?? new Uint8Array()).toString('base64url'))) return refuse('bad-signature', 'the SSH signature does not match the file: it was altered');
  return { ok: true, key: publicKey };
}
