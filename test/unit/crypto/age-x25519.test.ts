/**
 * The node:crypto X25519 path of shared/crypto/age.ts, checked against an independent reader:
 * the `age-encryption` library's own Decrypter and armor decoder (not our wrappers). Sizes around
 * the 64 KiB STREAM chunk boundary catch a wrong counter, last-chunk flag or an empty final chunk
 * (the library refuses each); a stranger's identity must not open a file.
 */
import { fc, test } from '@fast-check/vitest';
import { armor, Decrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { bech32 } from '@scure/base';
import { beforeAll, describe, expect, it } from 'vitest';
import { runs } from '../../support/runs.ts';
import { armorAgeFile, encryptX25519, x25519RecipientKey } from '#shared/crypto/age-x25519.ts';
import { encryptTo, generateAgeIdentity, type AgeKeyPair } from '#shared/crypto/age.ts';

const KIB = 1024;
/** Plaintext sizes and their payload chunks: the last chunk is full at 64 KiB, never empty after the first. */
const SIZES: readonly (readonly [size: number, chunks: number])[] = [[0, 1], [1, 1], [64 * KIB, 1], [64 * KIB + 1, 2], [200 * KIB, 4]];

let keys: AgeKeyPair[] = [];
let stranger: AgeKeyPair;
beforeAll(async () => {
  keys = await Promise.all([generateAgeIdentity(), generateAgeIdentity(), generateAgeIdentity()]);
  stranger = await generateAgeIdentity();
});

/** Deterministic, non-repeating bytes (a misplaced chunk changes them). */
function plaintextOf(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + (i >>> 8) * 7 + (i >>> 16)) & 0xff;
  return out;
}

/** Decrypts with the library alone; armored input is decoded with the library's armor. */
async function libraryDecrypt(identity: string, file: Uint8Array, armored: boolean): Promise<Uint8Array> {
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  return decrypter.decrypt(armored ? armor.decode(new TextDecoder().decode(file)) : file, 'uint8array');
}

const headerLines = (file: Uint8Array): string[] => {
  const text = new TextDecoder('latin1').decode(file);
  return text.slice(0, text.indexOf('\n--- ') + 48).split('\n');
};

describe('encryptTo with X25519 recipients (the node:crypto path)', () => {
  it.each(SIZES.flatMap(([size, chunks]) => [1, 2, 3].map((n) => [size, n, chunks] as const)))('%i bytes to %i recipient(s): each identity decrypts it with the library', async (size, n, chunks) => {
    const plaintext = plaintextOf(size);
    const recipients = keys.slice(0, n);
    const armored = n !== 2; // both forms, across the table
    const file = await encryptTo(recipients.map((k) => k.recipient), plaintext, { armor: armored });
    for (const k of recipients) expect(await libraryDecrypt(k.identity, file, armored)).toEqual(plaintext);
    await expect(libraryDecrypt(stranger.identity, file, armored)).rejects.toThrow(/no identity matched/);
    const binary = armored ? armor.decode(new TextDecoder().decode(file)) : file;
    const lines = headerLines(binary);
    const headerSize = lines.join('\n').length + 1;
    expect(binary.length).toBe(headerSize + 16 + size + 16 * chunks);
  });

  it('writes the header the spec describes: version line, one X25519 stanza per recipient, the MAC', async () => {
    const file = await encryptTo(keys.map((k) => k.recipient), plaintextOf(10));
    const lines = headerLines(file);
    expect(lines[0]).toBe('age-encryption.org/v1');
    for (let i = 0; i < keys.length; i++) {
      expect(lines[1 + 2 * i]).toMatch(/^-> X25519 [A-Za-z0-9+/]{43}$/);
      expect(lines[2 + 2 * i]).toMatch(/^[A-Za-z0-9+/]{43}$/);
    }
    expect(lines[1 + 2 * keys.length]).toMatch(/^--- [A-Za-z0-9+/]{43}$/);
    expect(new Set(lines.filter((l) => l.startsWith('-> ')))).toHaveProperty('size', keys.length); // fresh ephemeral share each
  });

  it('a file for one recipient does not open with another identity, and a flipped byte is refused', async () => {
    const [one, two] = keys as [AgeKeyPair, AgeKeyPair];
    const file = await encryptTo([one.recipient], plaintextOf(100));
    await expect(libraryDecrypt(two.identity, file, false)).rejects.toThrow(/no identity matched/);
    expect(await libraryDecrypt(one.identity, file, false)).toEqual(plaintextOf(100));
    const headerSize = headerLines(file).join('\n').length + 1;
    for (const at of [headerSize - 10, headerSize + 3, file.length - 1]) { // the MAC, the nonce, the payload tag
      const damaged = file.slice();
      damaged[at] = (damaged[at] ?? 0) ^ 1;
      await expect(libraryDecrypt(one.identity, damaged, false)).rejects.toThrow();
    }
  });

  it('refuses a low-order recipient key as a bad recipient, named by position', async () => {
    const zero = bech32.encodeFromBytes('age', new Uint8Array(32));
    await expect(encryptTo([keys[0]?.recipient ?? '', zero], plaintextOf(1))).rejects.toMatchObject({ code: 'age-bad-recipient', message: expect.stringContaining('#2') as unknown });
  });
});

describe('x25519RecipientKey', () => {
  it('decodes an X25519 recipient to the key the library derives, and nothing else', async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    expect(x25519RecipientKey(recipient)).toEqual(bech32.decodeToBytes(recipient).bytes);
    expect(x25519RecipientKey(recipient.toUpperCase())).toBeNull();
    expect(x25519RecipientKey(`${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`)).toBeNull(); // checksum
    expect(x25519RecipientKey(identity)).toBeNull();
    expect(x25519RecipientKey(bech32.encodeFromBytes('age', new Uint8Array(33)))).toBeNull();
    expect(x25519RecipientKey('')).toBeNull();
  });
});

describe('armorAgeFile', () => {
  test.prop([fc.uint8Array({ maxLength: 300 })], { numRuns: runs(100) })('writes byte for byte what the library writes, and the library reads it back', (bytes) => {
    const armored = armorAgeFile(bytes);
    expect(new TextDecoder().decode(armored)).toBe(armor.encode(bytes));
    if (bytes.length > 0) expect(armor.decode(new TextDecoder().decode(armored))).toEqual(bytes);
  });

  it('is what encryptTo writes with armor: true', async () => {
    const armored = new TextDecoder().decode(await encryptTo([keys[0]?.recipient ?? ''], plaintextOf(1000), { armor: true }));
    expect(armored).toBe(armor.encode(armor.decode(armored)));
  });
});

describe('encryptX25519', () => {
  it('refuses no recipients and keys that are not 32 bytes', () => {
    expect(() => encryptX25519([], plaintextOf(1))).toThrow(RangeError);
    expect(() => encryptX25519([new Uint8Array(31)], plaintextOf(1))).toThrow(RangeError);
  });
});
