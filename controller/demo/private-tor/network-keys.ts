/**
 * A directory authority's identity for a private Tor network (docs/reference/tor.md): v3 keys and certificate made
 * with `tor-gencert`, the relay identity from `tor --list-fingerprint`, both inside the data directory
 * the authority then runs with.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { parseCertificateFingerprint, parseListFingerprint, type AuthorityIdentity } from './network-torrc.ts';

export interface AuthorityKeyOptions {
  readonly nickname: string;
  /** The data directory the authority will run with (created 0700). */
  readonly dataDir: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** Default `tor`. */
  readonly tor?: string;
  /** Default `tor-gencert`. */
  readonly gencert?: string;
}

/**
 * Makes the authority's keys under `<dataDir>/keys` and returns what its `DirAuthority` line needs.
 * Throws OperationFailedError `tor-missing` when a binary cannot be run, `tor-gencert-failed` when
 * either tool fails or prints no fingerprint.
 */
export async function makeAuthorityKeys(o: AuthorityKeyOptions): Promise<AuthorityIdentity> {
  const keys = join(o.dataDir, 'keys');
  await mkdir(keys, { recursive: true, mode: 0o700 });
  await chmod(o.dataDir, 0o700);
  // The identity key is encrypted with a throw-away passphrase: a test authority never signs a new certificate.
  const passphrase = randomBytes(16).toString('hex');
  await run(o.gencert ?? 'tor-gencert', [
    '--create-identity-key', '--passphrase-fd', '0', '-m', '12', '-a', `127.0.0.1:${o.dirPort}`,
    '-i', join(keys, 'authority_identity_key'), '-s', join(keys, 'authority_signing_key'), '-c', join(keys, 'authority_certificate'),
  ], passphrase);
  const v3ident = parseCertificateFingerprint(await readFile(join(keys, 'authority_certificate'), 'utf8'));
  if (v3ident === null) throw new OperationFailedError('tor-gencert-failed', `tor-gencert wrote no fingerprint for ${o.nickname}`);
  const listed = await run(o.tor ?? 'tor', [
    '--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', '/dev/null', '--DataDirectory', o.dataDir,
    '--ORPort', '1', '--Nickname', o.nickname, '--list-fingerprint', '--quiet',
  ]);
  const fingerprint = parseListFingerprint(listed);
  if (fingerprint === null) throw new OperationFailedError('tor-gencert-failed', `tor --list-fingerprint printed no fingerprint for ${o.nickname}`);
  return { nickname: o.nickname, orPort: o.orPort, dirPort: o.dirPort, v3ident, fingerprint };
}

/** Runs a binary with `input` on stdin; resolves with stdout. */
function run(binary: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(missing
        ? new OperationFailedError('tor-missing', `cannot run ${binary}: not found`, { cause: err, hint: 'install tor: bash deploy/dev-deps.sh' })
        : new OperationFailedError('tor-gencert-failed', `${binary} failed: ${(stderr || stdout).trim().split('\n').slice(-5).join('\n')}`, { cause: err }));
    });
    child.stdin?.end(input ?? '');
  });
}
