/**
 * The controller's side of `onionfleet-agent join`: while `onionfleet serve` runs, its gateway hands
 * over each request of a join token (docs/reference/nats.md, "Isolation by accounts"). An accepted
 * request marks the token used, saves the device as pending (the admin approves it with `onionfleet
 * device approve`), answers with the controller's public keys signed by its signing key (the joiner
 * checks them against the fingerprint in its token), and then removes the token's one-time NATS
 * account. Logs name tokens, devices and fingerprints, never secrets.
 */
import { keyFingerprint, sign } from '#shared/crypto/sign.ts';
import { JoinRequest, joinReplySignedBytes, type JoinAccepted, type JoinRefusal, type JoinRefused } from '#shared/schema/join-token.ts';
import { listDevices } from '../state/devices.ts';
import type { ControllerIdentity } from '../state/identity.ts';
import type { ControllerSecrets } from '../state/keys.ts';
import type { StatePaths } from '../state/paths.ts';
import { listPending, savePending } from '../state/pending.ts';
import { loadToken, saveToken } from '../state/tokens.ts';
import { syncAccess } from './access.ts';
import { decideJoin } from './join-check.ts';

/** The controller's keys (an open ControllerSession has them). */
export interface JoinKeys {
  readonly identity: ControllerIdentity;
  readonly secrets: Pick<ControllerSecrets, 'signingSecretKey'>;
}

/**
 * Answers one join request that arrived from token `subjectToken`'s account. `send` must resolve only
 * once the server has the answer: the one-time account is removed right after an accepted join.
 * Call it one request at a time (the gateway does), so a token cannot be used twice by two racing
 * requests. Rejects only when even the refusal could not be sent; failures after the answer are logged.
 */
export async function handleJoinRequest(
  paths: StatePaths, keys: JoinKeys, subjectToken: string, data: Uint8Array, send: (answer: Uint8Array) => Promise<void>, log: (line: string) => void,
): Promise<void> {
  const sent = { answer: false };
  const reply = async (body: JoinAccepted | JoinRefused): Promise<void> => {
    await send(new TextEncoder().encode(JSON.stringify(body)));
    sent.answer = true;
  };
  const refuse = async (reason: JoinRefusal, message: string, device?: string): Promise<void> => {
    await reply({ kind: 'onionfleet/join-reply', version: 1, ok: false, reason, message });
    log(`join ${subjectToken}: refused (${reason})${device === undefined ? '' : ` for device ${device}`}`);
  };
  const request = parseRequest(data);
  if (request === null) {
    await refuse('invalid-request', 'the controller could not read this join request (a different onionfleet version?)');
    return;
  }
  if (request.token !== subjectToken) {
    await refuse('invalid-request', 'the request names another token than the one it was sent with');
    return;
  }

  try {
    const decision = decideJoin(request, {
      token: await loadToken(paths, request.token),
      devices: await listDevices(paths),
      pending: await listPending(paths),
      now: new Date(),
    });
    if (!decision.ok) {
      await refuse(decision.reason, decision.message, request.record.device);
      // An expired token's account may still be in the server config: take it out now.
      if (decision.reason === 'expired') await sync(paths, subjectToken, log);
      return;
    }
    const { record } = request;
    const at = new Date().toISOString();
    // Used before pending: a crash in between burns the token rather than letting it be used twice.
    await saveToken(paths, { ...decision.token, usedAt: at, usedBy: record.device });
    await savePending(paths, { kind: 'onionfleet/pending-device', version: 1, record, operator: decision.token.operator, token: decision.token.id, requestedAt: at });
    const controller = { signingKey: keys.identity.signingKey, ageRecipient: keys.identity.ageRecipient };
    const signature = sign(keys.secrets.signingSecretKey, joinReplySignedBytes({ token: request.token, device: record.device, deviceSigningKey: record.signingKey, controller }));
    // The answer reaches the server (send resolves after a flush) before the reload cuts the one-time account off.
    await reply({ kind: 'onionfleet/join-reply', version: 1, ok: true, token: request.token, device: record.device, controller, signature });
    log(`join ${subjectToken}: device ${record.device} (operator ${decision.token.operator}) is pending approval; signing key ${keyFingerprint(record.signingKey)}`);
  } catch (err) {
    if (!sent.answer) await refuse('internal', 'the controller could not record this join; the admin can see why in the output of `onionfleet serve`', request.record.device);
    throw err;
  }
  await sync(paths, subjectToken, log);
}

/** The request in `data`, or null when it is not JSON or not a join request. */
function parseRequest(data: Uint8Array): JoinRequest | null {
  try {
    const parsed = JoinRequest.safeParse(JSON.parse(new TextDecoder().decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

async function sync(paths: StatePaths, token: string, log: (line: string) => void): Promise<void> {
  try {
    await syncAccess(paths);
  } catch (err) {
    log(`join ${token}: the token's one-time NATS account is still in the server config: ${err instanceof Error ? err.message : String(err)}`);
  }
}
