/**
 * The bus part of `onionfleet-agent join`: one request through the token's one-time NATS account (over
 * an in-process SOCKS tunnel when the controller is an onion) — published on the token's own up-subject
 * and answered on its own down-tree (docs/reference/nats.md, "Isolation by accounts") — and the check
 * of the signed answer.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { keyFingerprint, verify } from '#shared/crypto/sign.ts';
import { EXIT, OnionfleetError, OperationFailedError, type ErrorOptions } from '#shared/errors.ts';
import { connectNats, NatsAuthFailedError, NatsUnreachableError } from '#shared/nats/connect.ts';
import { downSubject, downTree, upSubject, type Party } from '#shared/nats/names.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { JoinReply, joinReplySignedBytes, type JoinAccepted, type JoinRefusal, type JoinRequest, type JoinToken } from '#shared/schema/join-token.ts';
import { SocksTunnel } from '#shared/tor/socks-tunnel.ts';

/** The controller refused the join (or its NATS refused the token). Nothing was enrolled. Exit 2. */
export class JoinRefusedError extends OnionfleetError {
  readonly code: `join-${JoinRefusal | 'not-accepted'}`;
  readonly exitCode = EXIT.invalid;
  constructor(reason: JoinRefusal | 'not-accepted', message: string, options: ErrorOptions = {}) {
    super(`join refused: ${message}`, options);
    this.code = `join-${reason}`;
  }
}

/** How long the controller has to answer (it writes two files and reloads nats-server). */
const REPLY_TIMEOUT_MS = 60_000;

export interface RequestJoinOptions {
  /** Tor's SOCKS port `HOST:PORT` when the NATS host is an onion; null to connect directly. */
  readonly socks: string | null;
  readonly connectTimeoutMs: number;
  readonly log: (line: string) => void;
}

/**
 * Sends the join request for `record` and returns the controller's reply (accepted or refused).
 * Throws {@link JoinRefusedError} `not-accepted` when NATS refuses the token's nkey (used, expired
 * or revoked: its user is gone), NatsUnreachableError (exit 4) when the server cannot be reached or
 * nothing answers in time, and OperationFailedError `join-reply-invalid` for an unreadable reply.
 */
export async function requestJoin(token: JoinToken, record: EnrollmentRecord, options: RequestJoinOptions): Promise<JoinReply> {
  let tunnel: SocksTunnel | null = null;
  let servers = token.nats;
  if (options.socks !== null) {
    const url = new URL(token.nats.replace(/^nats:/, 'http:'));
    const [host = '127.0.0.1', port = '9050'] = options.socks.split(':');
    tunnel = await SocksTunnel.open({ socks: { host, port: Number(port) }, target: { host: url.hostname, port: Number(url.port) }, onError: (e) => {
      options.log(`tunnel: ${e.reason}`);
    } });
    servers = `nats://127.0.0.1:${tunnel.port}`;
  }
  try {
    const nc = await connect(token, servers, options);
    try {
      return await ask(nc, token, record);
    } finally {
      await nc.close();
    }
  } finally {
    await tunnel?.close();
  }
}

async function connect(token: JoinToken, servers: string, options: RequestJoinOptions): Promise<NatsConnection> {
  try {
    // Through Tor the first attempts may meet a descriptor not yet published: retry until the deadline.
    return await connectNats({
      servers, nkeySeed: token.natsSeed, name: `join-${token.id}`,
      timeoutMs: options.connectTimeoutMs, reconnect: options.socks !== null,
    });
  } catch (err) {
    if (err instanceof NatsAuthFailedError) {
      throw new JoinRefusedError('not-accepted', `the controller's NATS no longer accepts this token: it was already used, it expired (${token.expiresAt}), or it was revoked; ask the admin for a new one (\`onionfleet token create\`)`, { cause: err });
    }
    throw err;
  }
}

async function ask(nc: NatsConnection, token: JoinToken, record: EnrollmentRecord): Promise<JoinReply> {
  const request: JoinRequest = { kind: 'onionfleet/join-request', version: 1, token: token.id, secret: token.secret, record };
  const party: Party = { kind: 'join', id: token.id };
  const answerSubject = downSubject(party, 'answer');
  let timer: NodeJS.Timeout | undefined;
  const answered = new Promise<Uint8Array>((resolve, reject) => {
    const sub = nc.subscribe(downTree(party), {
      callback: (err, msg) => {
        if (err !== null) reject(err);
        else if (msg.subject === answerSubject) resolve(msg.data);
        else return;
        sub.unsubscribe();
      },
    });
    timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new NatsUnreachableError(`the controller did not answer the join request within ${REPLY_TIMEOUT_MS / 1000} s`, {
        hint: 'is `onionfleet serve` running at the controller? The keys are kept: if `onionfleet device list` shows this device pending, ask the admin for a new token and join again with the same --device',
      }));
    }, REPLY_TIMEOUT_MS);
  });
  answered.catch(() => undefined); // awaited below; this keeps an early failure from going unhandled
  let data: Uint8Array;
  try {
    await nc.flush(); // the subscription is in place before the request can be answered
    nc.publish(upSubject(party, 'request'), JSON.stringify(request));
    data = await answered;
  } finally {
    clearTimeout(timer);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new OperationFailedError('join-reply-invalid', 'the controller\'s reply is not JSON', { cause: err });
  }
  const parsed = JoinReply.safeParse(raw);
  if (!parsed.success) throw new OperationFailedError('join-reply-invalid', 'the controller\'s reply is not a join reply of this version', { hint: 'the controller and this agent may be of different onionfleet versions' });
  return parsed.data;
}

/**
 * Checks an accepted reply: for this token and this device, from the controller whose signing-key
 * fingerprint the token names, and signed by that key over this device's signing key. Throws
 * OperationFailedError `join-reply-unverified` (exit 1) otherwise — the caller writes nothing then.
 */
export function verifyAccepted(reply: JoinAccepted, token: JoinToken, record: EnrollmentRecord): void {
  const problem = reply.token !== token.id || reply.device !== record.device
    ? 'it answers another join'
    : keyFingerprint(reply.controller.signingKey) !== token.controller
      ? `its signing key (${keyFingerprint(reply.controller.signingKey)}) is not the one the token names (${token.controller})`
      : !verify(reply.controller.signingKey, joinReplySignedBytes({ token: token.id, device: record.device, deviceSigningKey: record.signingKey, controller: reply.controller }), reply.signature)
        ? 'its signature does not verify'
        : null;
  if (problem !== null) {
    throw new OperationFailedError('join-reply-unverified', `the reply does not come from the controller this token was made by: ${problem}; nothing was written`, {
      hint: 'someone between this device and the controller may be impersonating it: tell the admin, and use a new token',
    });
  }
}
