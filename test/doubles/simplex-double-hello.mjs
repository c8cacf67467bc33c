// TEST DOUBLE of the SimpleX server — not the real thing. The server hello block.
//
// Encoding chosen (the contract fixes the first fields; the rest mirrors simplexmq's shape but
// exactness there is not required):
//   block   = uint16 BE length of payload ‖ payload ‖ '#' × (16384 − 2 − length)
//   payload = uint16 BE minVersion ‖ uint16 BE maxVersion ‖ uint8 n ‖ sessionId (n bytes)
//             ‖ (only when maxVersion ≥ 7)
//               uint8 certCount ‖ (uint16 BE len ‖ certificate DER) × certCount   [server.crt, ca.crt]
//               ‖ uint16 BE len ‖ signedKey
//   signedKey = DER SEQUENCE { SubjectPublicKeyInfo of a fresh X25519 key,
//                              AlgorithmIdentifier { id-Ed25519 | id-Ed448 },
//                              BIT STRING signature over the SubjectPublicKeyInfo DER by server.key }
//   (the shape of an X.509 `SignedExact PubKey`).
// sessionId is the TLS client Finished as the server sees it (tlsSocket.getPeerFinished()).
import { generateKeyPairSync, sign } from 'node:crypto';

export const BLOCK_SIZE = 16384;
/** v6.4.5 `supportedServerSMPRelayVRange`; without ALPN the legacy range 6..6. */
export const VERSIONS = { min: 6, max: 17 };
export const LEGACY_VERSIONS = { min: 6, max: 6 };

const OID = { ed25519: Buffer.from([0x06, 0x03, 0x2b, 0x65, 0x70]), ed448: Buffer.from([0x06, 0x03, 0x2b, 0x65, 0x71]) };

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
const der = (tag, body) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
const u8 = (n) => Buffer.from([n]);
function u16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
const large = (bytes) => Buffer.concat([u16(bytes.length), bytes]);

/** A fresh X25519 public key signed by the server's online key, as DER. */
function signedX25519(serverKey) {
  const spki = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'der' });
  const type = serverKey.asymmetricKeyType;
  if (type !== 'ed25519' && type !== 'ed448') throw new Error(`unsupported server key type ${type}`);
  const signature = sign(null, spki, serverKey);
  return der(0x30, Buffer.concat([spki, der(0x30, OID[type]), der(0x03, Buffer.concat([u8(0), signature]))]));
}

/**
 * The 16384-byte hello. `versions` is VERSIONS or LEGACY_VERSIONS; `chain` the DER certificates
 * [server.crt, ca.crt]; `serverKey` the KeyObject of server.key.
 */
export function helloBlock({ sessionId, versions, chain, serverKey }) {
  const parts = [u16(versions.min), u16(versions.max), u8(sessionId.length), sessionId];
  if (versions.max >= 7) {
    parts.push(u8(chain.length), ...chain.map(large), large(signedX25519(serverKey)));
  }
  const payload = Buffer.concat(parts);
  if (payload.length > BLOCK_SIZE - 2) throw new Error('hello payload too large');
  return Buffer.concat([u16(payload.length), payload, Buffer.alloc(BLOCK_SIZE - 2 - payload.length, '#')]);
}
