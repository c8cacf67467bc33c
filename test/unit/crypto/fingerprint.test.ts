/**
 * Fingerprint and address helpers. The vector below was made by the same openssl commands as
 * `smp-server init`; its fingerprint was computed independently with
 * `openssl x509 -outform DER | openssl dgst -sha256 -binary | basenc --base64url`.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { runs } from '../../support/runs.ts';
import {
  caFingerprint, derFingerprint, isFingerprint, isServerPassword, readFingerprintFile, simplexAddress,
} from '#shared/crypto/fingerprint.ts';
import { InvalidInputError } from '#shared/errors.ts';

const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBazCCAR2gAwIBAgIUKdLgoPoKSOZgSrsvPJOH+NtZbPkwBQYDK2VwMCoxFjAU
BgNVBAMMDVNNUCBzZXJ2ZXIgQ0ExEDAOBgNVBAoMB1NpbXBsZVgwIBcNMjYxMTI1
MTkyNzIxWhgPNDc2NDEwMjExOTI3MjFaMCoxFjAUBgNVBAMMDVNNUCBzZXJ2ZXIg
Q0ExEDAOBgNVBAoMB1NpbXBsZVgwKjAFBgMrZXADIQDH2XnO2jliGMzO5lmFY/sT
hHMAPfTsQ+3+X0MJF/M13qNTMFEwHQYDVR0OBBYEFMZnOcjt705fZu8v/V2UlkvU
DkwfMB8GA1UdIwQYMBaAFMZnOcjt705fZu8v/V2UlkvUDkwfMA8GA1UdEwEB/wQF
MAMBAf8wBQYDK2VwA0EAKrVsSXdpNZmqiUvPqQg0fbx5ZoSrNeuZQXvQ8FbpVVK4
jCYkDjC1Bau+M1FYz1C9sOyiT1x5tm+U5gBDjIebBw==
-----END CERTIFICATE-----
`;
const SERVER_PEM = `-----BEGIN CERTIFICATE-----
MIIBcTCCASOgAwIBAgIUAlU5hFXBakuWayT8jOGPqMy/wIAwBQYDK2VwMCoxFjAU
BgNVBAMMDVNNUCBzZXJ2ZXIgQ0ExEDAOBgNVBAoMB1NpbXBsZVgwIBcNMjYxMTI1
MTkyNzIxWhgPNDc2NDEwMjExOTI3MjFaMBQxEjAQBgNVBAMMCWFiYy5vbmlvbjAq
MAUGAytlcAMhACK+9nXCdbi11VuQEDSO3Q9xnsSHOOcCz1GvfFlx+8jUo28wbTAJ
BgNVHRMEAjAAMAsGA1UdDwQEAwIDyDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNV
HQ4EFgQUNsyPN1rk8cDDjBkuTJ6jYudSj38wHwYDVR0jBBgwFoAUxmc5yO3vTl9m
7y/9XZSWS9QOTB8wBQYDK2VwA0EAEgQDwvo++ZuoCOxL/dLb0gksLoTz6mty7EPy
WITcqq93N82PxI+1MusD85YieG5RNyGYtzfR6d0XbYC5lT2SAw==
-----END CERTIFICATE-----
`;
const CA_FP = 'j-9Medvd4XBnr6nGTEtQExRvrmZ1v6IoVFJhd2KTVsM=';
const ONION = 'ajv3m4uu3oo5gzcqqgq3k7g4zxfk6icrqjgyhplorn6p5ufmwsftrlid.onion';

describe('caFingerprint', () => {
  it('is SHA-256 of the DER of ca.crt, base64url with = padding (external vector)', () => {
    expect(caFingerprint(CA_PEM)).toBe(CA_FP);
    expect(CA_FP).toHaveLength(44);
  });

  it('takes the first certificate of a PEM bundle', () => {
    expect(caFingerprint(CA_PEM + SERVER_PEM)).toBe(CA_FP);
    expect(caFingerprint(SERVER_PEM + CA_PEM)).not.toBe(CA_FP);
  });

  it('accepts CRLF line ends and surrounding text', () => {
    expect(caFingerprint(`subject=CN = SMP server CA\r\n${CA_PEM.replaceAll('\n', '\r\n')}`)).toBe(CA_FP);
  });

  it('throws InvalidInputError without a parsable certificate', () => {
    expect(() => caFingerprint('')).toThrow(InvalidInputError);
    expect(() => caFingerprint('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(InvalidInputError);
  });
});

describe('readFingerprintFile', () => {
  it('reads the file as init writes it (value + newline)', () => {
    expect(readFingerprintFile(`${CA_FP}\n`)).toBe(CA_FP);
    expect(readFingerprintFile(`  ${CA_FP}\r\n`)).toBe(CA_FP);
  });

  it.each([
    ['empty', ''],
    ['no padding', CA_FP.slice(0, 43)],
    ['standard base64 alphabet', CA_FP.replace('-', '+')],
    ['too long', `A${CA_FP}`],
    ['two values', `${CA_FP}\n${CA_FP}\n`],
    ['non-zero trailing bits', `${CA_FP.slice(0, 42)}N=`],
  ])('returns null for %s', (_name, text) => {
    expect(readFingerprintFile(text)).toBeNull();
  });

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })], { numRuns: runs(200) })(
    'round-trips every 32-byte digest', (bytes) => {
      const fp = `${Buffer.from(bytes).toString('base64url')}=`;
      expect(isFingerprint(fp)).toBe(true);
      expect(readFingerprintFile(`${fp}\n`)).toBe(fp);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 64 })], { numRuns: runs(100) })('derFingerprint is always well-formed', (bytes) => {
    expect(readFingerprintFile(derFingerprint(bytes))).toBe(derFingerprint(bytes));
  });
});

describe('isServerPassword', () => {
  it.each(['secret', 'a-b_c.d~!#$%^&*()+=[]{}|?<>,;"\'`', 'x'])('accepts %j', (pw) => {
    expect(isServerPassword(pw)).toBe(true);
  });
  it.each(['', 'a b', 'a\tb', 'p@ss', 'a:b', 'a/b', 'é', 'a\nb'])('rejects %j', (pw) => {
    expect(isServerPassword(pw)).toBe(false);
  });
});

describe('simplexAddress', () => {
  it('builds smp://fp:password@host without a port', () => {
    expect(simplexAddress('smp', CA_FP, 'secret', ONION)).toBe(`smp://${CA_FP}:secret@${ONION}`);
  });

  it('omits the password when there is none', () => {
    expect(simplexAddress('smp', CA_FP, null, ONION)).toBe(`smp://${CA_FP}@${ONION}`);
    expect(simplexAddress('xftp', CA_FP, null, ONION)).toBe(`xftp://${CA_FP}@${ONION}`);
    expect(simplexAddress('xftp', CA_FP, 'up', ONION)).toBe(`xftp://${CA_FP}:up@${ONION}`);
  });

  it('lower-cases the onion host', () => {
    expect(simplexAddress('smp', CA_FP, null, ONION.toUpperCase())).toBe(`smp://${CA_FP}@${ONION}`);
  });

  it.each([
    ['fingerprint', () => simplexAddress('smp', CA_FP.slice(1), null, ONION)],
    ['password', () => simplexAddress('smp', CA_FP, 'p@ss', ONION)],
    ['host with a port', () => simplexAddress('smp', CA_FP, null, `${ONION}:5223`)],
    ['empty host', () => simplexAddress('smp', CA_FP, null, '')],
    ['two hosts', () => simplexAddress('smp', CA_FP, null, `${ONION},example.org`)],
  ])('refuses a malformed %s', (_name, build) => {
    expect(build).toThrow(InvalidInputError);
  });

  it('names every problem at once', () => {
    try {
      simplexAddress('smp', 'x', 'a b', 'bad host');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).problems.map((p) => p.path)).toEqual(['fingerprint', 'password', 'host']);
    }
  });
});
