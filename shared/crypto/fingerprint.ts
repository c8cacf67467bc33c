/**
 * SimpleX server identity: the CA fingerprint and the server address members paste into their apps
 * (docs/reference/simplex-servers.md, "Fingerprint and address").
 */
import { createHash, X509Certificate } from 'node:crypto';
import { InvalidInputError } from '../errors.ts';

/** The two SimpleX server kinds; also the address scheme. */
export type SimplexKind = 'smp' | 'xftp';

/** 32 bytes in base64url with its `=` padding: 43 characters, the last holding 4 bits, then `=`. */
const FINGERPRINT = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]=$/;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
/** DNS-name characters only; onion addresses are lower-case base32 + `.onion`. */
const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** SHA-256 of DER bytes as SimpleX writes it: base64url **with** `=` padding (44 characters). */
export function derFingerprint(der: Uint8Array): string {
  return `${createHash('sha256').update(der).digest('base64url')}=`;
}

/**
 * The server fingerprint: SHA-256 over the DER of the first certificate in `caPem` (the server's
 * `ca.crt`, not `server.crt`), base64url with `=` padding, 44 characters.
 *
 * @throws {InvalidInputError} when `caPem` holds no parsable certificate.
 */
export function caFingerprint(caPem: string): string {
  const block = PEM_CERTIFICATE.exec(caPem)?.[0];
  if (block === undefined) {
    throw new InvalidInputError([{ source: 'ca.crt', message: 'no PEM certificate found' }]);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(block);
  } catch (err) {
    throw new InvalidInputError([{ source: 'ca.crt', message: 'the certificate does not parse' }], { cause: err });
  }
  return derFingerprint(cert.raw);
}

/** True when `fp` is a well-formed fingerprint: 44-character base64url of 32 bytes, `=` padded. */
export function isFingerprint(fp: string): boolean {
  return FINGERPRINT.test(fp);
}

/**
 * The fingerprint held by a server's `fingerprint` file (the value plus a newline).
 *
 * @returns the fingerprint, or `null` when the trimmed text is not a well-formed fingerprint.
 */
export function readFingerprintFile(text: string): string | null {
  const fp = text.trim();
  return isFingerprint(fp) ? fp : null;
}

/** True when `pw` may be a server password: printable ASCII without whitespace, `@`, `:` or `/`. */
export function isServerPassword(pw: string): boolean {
  return /^[\x21-\x7e]+$/.test(pw) && !/[@:/]/.test(pw);
}

/**
 * The address members add to their clients: `smp://<fp>[:<password>]@<host>` (`xftp://…` alike).
 * The host is lower-cased and carries no port: members always reach the onion service on the
 * protocol's default virtual port (SMP 5223, XFTP 443), never the Pi's local port.
 *
 * @throws {InvalidInputError} when the fingerprint, the password or the host is malformed.
 */
export function simplexAddress(kind: SimplexKind, fingerprint: string, password: string | null, onionHost: string): string {
  const host = onionHost.toLowerCase();
  const problems = [
    ...(isFingerprint(fingerprint) ? [] : [{ source: 'simplex address', path: 'fingerprint', message: 'not a 44-character base64url fingerprint with = padding' }]),
    ...(password === null || isServerPassword(password) ? [] : [{ source: 'simplex address', path: 'password', message: "only printable ASCII without whitespace, '@', ':' or '/' is allowed" }]),
    ...(HOST.test(host) ? [] : [{ source: 'simplex address', path: 'host', message: `not a host name: ${JSON.stringify(onionHost)}` }]),
  ];
  if (problems.length > 0) throw new InvalidInputError(problems);
  return `${kind}://${fingerprint}${password === null ? '' : `:${password}`}@${host}`;
}
