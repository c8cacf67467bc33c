/**
 * Join tokens as the controller keeps them: `state/tokens/<id>.json` (0600, dir 0700) with what the
 * controller needs to check and to open the bus — never what the joiner needs: the SHA-256 of the
 * secret (not the secret), the one-time NATS user's public key (not its seed), the one-time onion
 * client key's public half (not its private half).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { Id, Sha256Hex } from '#shared/schema/common.ts';
import { NatsUserKey, OnionClientPublicKey } from '#shared/schema/enrollment.ts';
import { TokenId } from '#shared/schema/join-token.ts';
import type { StatePaths } from './paths.ts';

/** One token as the controller keeps it (see the module comment). */
export const TokenRecord = z.strictObject({
  kind: z.literal('onionfleet/join-token'),
  version: z.literal(1),
  id: TokenId,
  operator: Id,
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /** SHA-256 (hex) of the token's secret. */
  secretSha256: Sha256Hex,
  /** The one-time NATS user (public nkey) that may publish this token's join request. */
  natsUser: NatsUserKey,
  /** Public half of the one-time key that opens the NATS onion (`authorized_clients/join-<id>.auth`). */
  onionClientKey: OnionClientPublicKey,
  /** When the token was used, and by which device; null while unused. */
  usedAt: z.iso.datetime().nullable(),
  usedBy: Id.nullable(),
});
export type TokenRecord = z.infer<typeof TokenRecord>;

/** Where the tokens live (beside the other state; no secrets inside, but 0700/0600 all the same). */
export function tokensDir(paths: StatePaths): string {
  return join(paths.dir, 'tokens');
}

function tokenFile(paths: StatePaths, id: string): string {
  return join(tokensDir(paths), `${id}.json`);
}

/** A fresh token id: 10 random lower-case base32 characters (see TokenId). */
export function newTokenId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...randomBytes(10)].map((b) => alphabet[b % 32]).join('');
}

/** SHA-256 (hex) of a token secret, as {@link TokenRecord.secretSha256} holds it. */
export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** True when `secret` is the token's secret; compares digests in constant time. Never throws. */
export function secretMatches(token: TokenRecord, secret: string): boolean {
  return timingSafeEqual(Buffer.from(secretDigest(secret), 'hex'), Buffer.from(token.secretSha256, 'hex'));
}

/** Writes `token` atomically (0600; the directory is made 0700). */
export async function saveToken(paths: StatePaths, token: TokenRecord): Promise<void> {
  await mkdir(tokensDir(paths), { recursive: true, mode: 0o700 });
  await writeFileAtomic(tokenFile(paths, token.id), `${JSON.stringify(token, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The token `id`, or null when there is none (or `id` is not a token id). Throws InvalidInputError
 * (exit 2) when its file exists but is damaged.
 */
export async function loadToken(paths: StatePaths, id: string): Promise<TokenRecord | null> {
  if (!TokenId.safeParse(id).success) return null;
  const exists = await readFile(tokenFile(paths, id)).then(() => true, () => false);
  return exists ? loadJson(tokenFile(paths, id), TokenRecord, 'a join token record') : null;
}

/** Every token, sorted by id. Throws InvalidInputError when a token file is damaged. */
export async function listTokens(paths: StatePaths): Promise<TokenRecord[]> {
  const files = (await readdir(tokensDir(paths)).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map((f) => loadJson(join(tokensDir(paths), f), TokenRecord, 'a join token record')));
}

/** Where a token stands at `now`: `live` (unused, unexpired), `used` or `expired`. Pure. */
export function tokenState(token: TokenRecord, now: Date): 'live' | 'used' | 'expired' {
  if (token.usedAt !== null) return 'used';
  return Date.parse(token.expiresAt) <= now.getTime() ? 'expired' : 'live';
}

/** The live tokens at `now`: those that get a one-time NATS user (and may open the NATS onion). */
export async function liveTokens(paths: StatePaths, now: Date): Promise<TokenRecord[]> {
  return (await listTokens(paths)).filter((t) => tokenState(t, now) === 'live');
}
