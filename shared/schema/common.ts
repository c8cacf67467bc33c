/**
 * Value schemas shared by every document onionfleet reads: ids, jurisdictions, age recipients,
 * SHA-256 digests. Pure: no I/O.
 */
import { bech32 } from '@scure/base';
import { z } from 'zod';
import { ISO_3166_ALPHA2 } from './iso3166.ts';

/** Ids of operators, devices, groups, members, locations: `[a-z0-9][a-z0-9-]{0,62}`. */
export const Id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
  error: 'expected an id: lower-case letters, digits and "-", starting with a letter or digit, at most 63 characters',
});
export type Id = z.infer<typeof Id>;

/** The fleet's name: `[a-z0-9-]`, 1–63 characters. */
export const FleetName = z.string().regex(/^[a-z0-9-]{1,63}$/, {
  error: 'expected a name of 1-63 characters from a-z, 0-9 and "-"',
});

/** ISO 3166-1 alpha-2 country code, upper case, and assigned. */
export const Jurisdiction = z.string().refine((s) => ISO_3166_ALPHA2.has(s), {
  error: (issue) =>
    typeof issue.input === 'string' && ISO_3166_ALPHA2.has(issue.input.toUpperCase())
      ? `expected an upper-case ISO 3166-1 alpha-2 code (${issue.input.toUpperCase()})`
      : 'expected an ISO 3166-1 alpha-2 country code such as DE, NL or US',
});

/**
 * True when `s` is an age X25519 recipient: bech32 with prefix `age`, carrying a 32-byte key.
 * Returns false (never throws) for anything else.
 */
export function isAgeX25519Recipient(s: string): boolean {
  if (!s.startsWith('age1') || s !== s.toLowerCase()) return false;
  try {
    const { prefix, words } = bech32.decode(s as `${string}1${string}`, 90);
    return prefix === 'age' && bech32.fromWords(words).length === 32;
  } catch {
    return false;
  }
}

/** An age X25519 recipient (`age1…`, 62 characters, valid checksum). */
export const AgeRecipient = z.string().refine(isAgeX25519Recipient, {
  error: 'expected an age X25519 recipient ("age1" followed by 58 bech32 characters, valid checksum)',
});

/** A SHA-256 digest as 64 hex digits; normalised to lower case. */
export const Sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, { error: 'expected a SHA-256 digest: 64 hex digits' })
  .transform((s) => s.toLowerCase());
