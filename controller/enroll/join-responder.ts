/**
 * The controller's side of `onionfleet-agent join`: while `onionfleet serve` runs, answers requests on
 * `onionfleet.join.<token>`. An accepted request marks the token used, saves the device as pending
 * (the admin approves it with `onionfleet device approve`), replies with the controller's public keys
 * signed by its signing key (the joiner checks them against the fingerprint in its token), and then
 * removes the token's one-time NATS user. Logs name tokens, devices and fingerprints, never secrets.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { keyFingerprint, sign } from '../../shared/crypto/sign.ts';
import { JOIN_SUBJECT_WILDCARD } from '../../shared/nats/names.ts';
import { JoinRequest, joinReplySignedBytes, type JoinAccepted, type JoinRefusal, type JoinRefused } from '../../shared/schema/join-token.ts';
import { listDevices } from '../state/devices.ts';
import type { ControllerIdentity, ControllerSecrets } from '../state/keys.ts';
import type { StatePaths } from '../state/paths.ts';
import { listPending, savePending } from '../state/pending.ts';
import { loadToken, saveToken } from '../state/tokens.ts';
import { syncAccess } from './access.ts';
import { decideJoin } from './join-check.ts';

/** The controller's connection and keys (an open ControllerSession has them). */
export interface JoinResponderBus {
  readonly nc: NatsConnection;
  readonly identity: ControllerIdentity;
  readonly secrets: Pick<ControllerSecrets, 'signingSecretKey'>;
}

export interface JoinResponder {
  /** Stops answering; resolves once the request being handled (if any) is finished. Never throws. */
  stop(): Promise<void>;
}

/**
 * Subscribes `onionfleet.join.*` on `bus.nc` and answers each request in turn (one at a time, so a
 * token cannot be used twice by two requests racing). A request that cannot be answered (no reply
 * subject) is logged and dropped. Never throws; failures are logged and answered as `internal`.
 */
export function startJoinResponder(paths: StatePaths, bus: JoinResponderBus, log: (line: string) => void): JoinResponder {
  const sub = bus.nc.subscribe(JOIN_SUBJECT_WILDCARD);
  const loop = (async () => {
    for await (const msg of sub) {
      await answer(paths, bus, msg, log).catch((err: unknown) => {
        log(`join: could not answer a request on ${msg.subject}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  })();
  return {
    async stop() {
      sub.unsubscribe();
      await loop.catch(() => undefined);
    },
  };
}

async function answer(paths: StatePaths, bus: JoinResponderBus, msg: Msg, log: (line: string) => void): Promise<void> {
  const subjectToken = msg.subject.split('.').at(-1) ?? '';
  if (msg.reply === undefined || msg.reply === '') {
    log(`join ${subjectToken}: a request without a reply subject, ignored`);
    return;
  }
  let replied = false;
  const refuse = (reason: JoinRefusal, message: string, device?: string): void => {
    const reply: JoinRefused = { kind: 'onionfleet/join-reply', version: 1, ok: false, reason, message };
    replied = msg.respond(JSON.stringify(reply));
    log(`join ${subjectToken}: refused (${reason})${device === undefined ? '' : ` for device ${device}`}`);
  };
  const request = parseRequest(msg.data);
  if (request === null) {
    refuse('invalid-request', 'the controller could not read this join request (a different onionfleet version?)');
    return;
  }
  if (request.token !== subjectToken) {
    refuse('invalid-request', 'the request names another token than the subject it was sent on');
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
      refuse(decision.reason, decision.message, request.record.device);
      // An expired token's user may still be in the server config: take it out now.
      if (decision.reason === 'expired') await sync(paths, subjectToken, log);
      return;
    }
    const { record } = request;
    const at = new Date().toISOString();
    // Used before pending: a crash in between burns the token rather than letting it be used twice.
    await saveToken(paths, { ...decision.token, usedAt: at, usedBy: record.device });
    await savePending(paths, { kind: 'onionfleet/pending-device', version: 1, record, operator: decision.token.operator, token: decision.token.id, requestedAt: at });
    const controller = { signingKey: bus.identity.signingKey, ageRecipient: bus.identity.ageRecipient };
    const signature = sign(bus.secrets.signingSecretKey, joinReplySignedBytes({ token: request.token, device: record.device, deviceSigningKey: record.signingKey, controller }));
    const reply: JoinAccepted = { kind: 'onionfleet/join-reply', version: 1, ok: true, token: request.token, device: record.device, controller, signature };
    replied = msg.respond(JSON.stringify(reply));
    log(`join ${subjectToken}: device ${record.device} (operator ${decision.token.operator}) is pending approval; signing key ${keyFingerprint(record.signingKey)}`);
    // The reply must reach the server before the reload cuts the one-time user off.
    await bus.nc.flush();
  } catch (err) {
    if (!replied) refuse('internal', 'the controller could not record this join; the admin can see why in the output of `onionfleet serve`', request.record.device);
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
    log(`join ${token}: the token's one-time NATS user is still in the server config: ${err instanceof Error ? err.message : String(err)}`);
  }
}
