/**
 * Whether an instance identity holds together (docs/continuity.md): the onion secret key makes the
 * onion address, the CA certificate has the fingerprint, the server certificate is signed by the CA
 * and the server key is its key. A backup or a restore that fails any of these is refused. Never
 * names a key's content.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { InstanceIdentity } from '../schema/identity.ts';
import { caFingerprint } from './fingerprint.ts';
import { onionAddress, publicKeyFromSecretKeyFile } from './onion.ts';

/** What does not hold in `identity` (empty: it holds). Never throws. */
export function identityProblems(identity: InstanceIdentity): string[] {
  const problems: string[] = [];
  const publicKey = publicKeyFromSecretKeyFile(Buffer.from(identity.onion.secretKeyFile, 'base64'));
  if (publicKey === null || onionAddress(publicKey) !== identity.onion.hostname) problems.push('the onion key does not make the onion address');
  try {
    if (caFingerprint(identity.caCert) !== identity.fingerprint) problems.push('the CA certificate does not have the fingerprint');
    const ca = new X509Certificate(identity.caCert);
    const server = new X509Certificate(identity.serverCert);
    if (!server.verify(ca.publicKey)) problems.push('the server certificate is not signed by the CA');
    const derOf = (k: ReturnType<typeof createPublicKey>) => k.export({ format: 'der', type: 'spki' }).toString('base64');
    if (derOf(createPublicKey(createPrivateKey(identity.serverKey))) !== derOf(server.publicKey)) problems.push('the server key is not the server certificate\'s');
    if (identity.caKey !== null && derOf(createPublicKey(createPrivateKey(identity.caKey))) !== derOf(ca.publicKey)) problems.push('the CA key is not the CA certificate\'s');
  } catch {
    problems.push('a certificate or key does not parse');
  }
  return problems;
}
