/**
 * A device's side of the bus: it hears its desired state on its own down-tree and speaks on its own
 * up-subjects, through `serve`'s gateway (docs/reference/nats.md, "Isolation by accounts"). No
 * JetStream, no request/reply: the device's account holds nothing but the device.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeRevision, encodeDesiredRequest, REVISION_HEADER, type DesiredPush } from './device-wire.ts';
import { downSubject, downTree, upSubject, type Party } from './names.ts';
import { encodeRestoreRequest } from '../schema/store-log-download.ts';

export class DeviceLink {
  readonly #nc: NatsConnection;
  readonly #party: Party;
  readonly #sub: Subscription;
  /** Who hears `down.restore` (the download parts the gateway sends); see {@link onRestorePart}. */
  readonly #restore: { handler: (sealed: Uint8Array) => void };

  private constructor(nc: NatsConnection, party: Party, sub: Subscription, restore: { handler: (sealed: Uint8Array) => void }) {
    this.#nc = nc;
    this.#party = party;
    this.#sub = sub;
    this.#restore = restore;
  }

  /**
   * Subscribes to `device`'s down-tree on `nc`: `onDesired` gets every desired state the gateway
   * pushes (the newest last; a message without a well-formed revision is passed to `onMalformed` and
   * dropped). Resolves once the server has the subscription, so a request sent afterwards is answered
   * to it. Throws InvalidInputError for an invalid device id.
   */
  static async open(nc: NatsConnection, device: string, onDesired: (push: DesiredPush) => void, onMalformed: (why: string) => void = () => undefined): Promise<DeviceLink> {
    const party: Party = { kind: 'device', id: device };
    const desiredSubject = downSubject(party, 'desired');
    const restoreSubject = downSubject(party, 'restore');
    const restore = { handler: (_sealed: Uint8Array): void => undefined };
    const sub = nc.subscribe(downTree(party), {
      callback: (err, msg: Msg) => {
        if (err === null && msg.subject === restoreSubject && msg.data.byteLength > 0) restore.handler(msg.data);
        if (err !== null || msg.subject !== desiredSubject) return;
        const revision = decodeRevision(msg.headers?.get(REVISION_HEADER));
        if (revision === null) {
          onMalformed('a desired state without a revision');
          return;
        }
        onDesired({ value: msg.data.byteLength === 0 ? null : msg.data, revision });
      },
    });
    await nc.flush();
    return new DeviceLink(nc, party, sub, restore);
  }

  /** `handler` gets every sealed download part the gateway sends (agent/restore/download.ts opens them). */
  onRestorePart(handler: (sealed: Uint8Array) => void): void {
    this.#restore.handler = handler;
  }

  /** Asks for part `index` of the download `ref` (shared/schema/store-log-download.ts). Throws like {@link sendStatus}. */
  requestRestorePart(ref: string, index: number): void {
    this.#nc.publish(upSubject(this.#party, 'restore'), encodeRestoreRequest({ ref, index }));
  }

  /** Asks for the desired state unless it is still at revision `have` (null: send it anyway). */
  requestDesired(have: number | null): void {
    this.#nc.publish(upSubject(this.#party, 'desired'), encodeDesiredRequest({ have }));
  }

  /**
   * Sends a sealed status (while the connection is down, the client keeps it and sends it on
   * reconnect). Throws when the connection is closed, or the status exceeds the account's max_payload.
   */
  sendStatus(sealed: Uint8Array): void {
    this.#nc.publish(upSubject(this.#party, 'status'), sealed);
  }

  /**
   * Sends one sealed backup for `slot` (16 hex characters naming the instance opaquely): the slot's
   * ASCII, then the sealed bytes. Throws like {@link sendStatus}.
   */
  sendBackup(slot: string, sealed: Uint8Array): void {
    const framed = new Uint8Array(slot.length + sealed.byteLength);
    framed.set(new TextEncoder().encode(slot), 0);
    framed.set(sealed, slot.length);
    this.#nc.publish(upSubject(this.#party, 'backup'), framed);
  }

  /** Stops hearing desired states (the connection stays the caller's). */
  close(): void {
    this.#sub.unsubscribe();
  }
}
