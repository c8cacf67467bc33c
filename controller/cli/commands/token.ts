import { randomBytes } from 'node:crypto';
import { createUser } from '@nats-io/nkeys';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { clientAuthKeyPair } from '#shared/crypto/onion.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { Id } from '#shared/schema/common.ts';
import { durationSchema } from '#shared/schema/duration.ts';
import { encodeJoinToken, NatsUrl } from '#shared/schema/join-token.ts';
import { syncAccess } from '../../enroll/access.ts';
import { loadIdentity } from '../../state/identity.ts';
import { ensureNatsOnion } from '../../state/nats-onion.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { listTokens, loadToken, newTokenId, saveToken, secretDigest, tokenState } from '../../state/tokens.ts';

/** Longest a token may live: it is a credential that opens the bus to whoever holds it. */
export const MAX_TOKEN_LIFETIME = '30d';

const CreateFlags = z.object({
  operator: Id,
  expires: durationSchema('1s', MAX_TOKEN_LIFETIME),
  natsUrl: NatsUrl.optional(),
  state: z.string().optional(),
  json: z.boolean().default(false),
});
const ListFlags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet token create --operator OP [--expires 24h] [--nats-url URL] [--json]`: a single-use join
 * token for one device of `OP`. Prints the token line on stdout (it is a secret: hand it over as a
 * file, not in a chat log); the state keeps only digests and public halves. Opens the bus to the
 * token's one-time user (reloads NATS when `serve` runs).
 */
export async function tokenCreate(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(CreateFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  const identity = await loadIdentity(paths);
  const nats = flags.natsUrl ?? (await ensureNatsOnion(paths)).url;
  let id = newTokenId();
  while (await loadToken(paths, id) !== null) id = newTokenId();
  const onion = clientAuthKeyPair();
  const nkey = createUser();
  const secret = randomBytes(32).toString('base64url');
  const now = new Date();
  const expiresAt = new Date(now.getTime() + flags.expires).toISOString();
  await saveToken(paths, {
    kind: 'onionfleet/join-token', version: 1, id, operator: flags.operator, createdAt: now.toISOString(), expiresAt,
    secretSha256: secretDigest(secret), natsUser: nkey.getPublicKey(), onionClientKey: onion.publicKeyBase32, usedAt: null, usedBy: null,
  });
  const { natsReloaded } = await syncAccess(paths);
  const token = encodeJoinToken({
    id, nats, onionClientKey: onion.privateKeyBase32, natsSeed: new TextDecoder().decode(nkey.getSeed()), secret,
    controller: keyFingerprint(identity.signingKey), operator: flags.operator, expiresAt,
  });
  if (flags.json) {
    ctx.output.out(toJson({ id, operator: flags.operator, expiresAt, natsReloaded, token }));
    return;
  }
  ctx.output.out(token);
  ctx.output.err(`join token ${id} for a device of ${flags.operator}: single use, expires ${expiresAt}${natsReloaded ? '' : '; it works once `onionfleet serve` runs'}`);
  ctx.output.err('it is a secret: hand it over as a file; on the device: onionfleet-agent join --device ID --token-file FILE');
}

/** `onionfleet token list [--json]`: every token's id, operator, expiry and state; no secrets. */
export async function tokenList(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ListFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  await loadIdentity(paths);
  const now = new Date();
  const rows = (await listTokens(paths)).map((t) => ({
    id: t.id, operator: t.operator, state: tokenState(t, now), createdAt: t.createdAt, expiresAt: t.expiresAt, usedAt: t.usedAt, usedBy: t.usedBy,
  }));
  if (flags.json) {
    ctx.output.out(toJson(rows));
    return;
  }
  ctx.output.out(rows.length === 0
    ? 'no join tokens'
    : table([['token', 'operator', 'state', 'expires', 'used by'], ...rows.map((r) => [r.id, r.operator, r.state, r.expiresAt, r.usedBy ?? '-'])]));
}
