/**
 * The agent's sealed backups (docs/continuity.md): for each instance whose group allows identity
 * copies, the device reads the identity files, seals them (signed by the device, age-encrypted to the
 * controller and the group's offline recipients) and sends them through `serve`'s gateway — at once
 * when the identity is new or changed, the store log at most once per the group's backup interval
 * and only when it changed, and a final one when the instance stops for a hand-over. The SMP store log
 * goes as a chain (./store-log-chain.ts: a base, then deltas) just before the identity backup that
 * names its tip. Bounded: per instance and interval one identity backup and one base (at most
 * STORE_LOG_MAX_CHUNKS parts) or one delta, each of at most BACKUP_MAX_BYTES; the gateway rate-limits on top.
 * Logs name instances and reasons, never content.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sealToMany } from '#shared/crypto/seal-many.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { Logger } from '#shared/log.ts';
import { BACKUP_MAX_BYTES } from '#shared/nats/limits.ts';
import { DesiredState, type DesiredInstance } from '#shared/schema/desired-state.ts';
import { DESIRED_COPY } from '../reconcile/loop.ts';
import type { BackupBody, InstanceIdentity } from '#shared/schema/identity.ts';
import { partName, STORE_LOG_PART_KIND, type ChainTip, type StoreLogPart } from '#shared/schema/store-log-chain.ts';
import { instanceDataHeader } from '#shared/schema/instance-data.ts';
import { readIdentity, readStoreLog } from './identity-files.ts';
import { ChainState, planStoreLog } from './store-log-chain.ts';

/** The sealed document's kind (inside the signature). */
export const BACKUP_KIND = 'backup';
/** What the agent remembers of what it sent: per instance, hashes and when. 0600 (it names instances). */
export const BACKUP_STATE = '/var/lib/onionfleet/backups.json';

const SentState = z.record(z.string(), z.strictObject({ identityHash: z.string(), storeLogHash: z.string(), sentAt: z.string(), chain: ChainState.optional() }));
type SentState = z.infer<typeof SentState>;

/** The slot a backup of `instance` fills on the bus: opaque to the bus, computable by the controller. */
export function backupSlot(device: string, instance: string): string {
  return createHash('sha256').update(`onionfleet-backup-slot\0${device}\0${instance}`).digest('hex').slice(0, 16);
}

export interface BackupSenderOptions {
  readonly root: string;
  readonly device: string;
  readonly signingSecretKey: string;
  readonly send: (slot: string, sealed: Uint8Array) => void;
  readonly log: Logger;
}

export class BackupSender {
  readonly #o: BackupSenderOptions;
  #state: SentState | null = null;
  /** The continuity-bearing instances of the last desired state seen: a final backup needs them after they left it. */
  readonly #known = new Map<string, DesiredInstance>();
  /** Per instance with copies allowed: since when (ms) its data changed without a backup; 0 when none waits. */
  readonly #unsavedSince = new Map<string, number>();
  /** Instances whose next store-log part must be a new base (see rebase()). */
  readonly #rebase = new Set<string>();

  constructor(options: BackupSenderOptions) {
    this.#o = options;
  }

  /** Remembers the instances of `desired` (call before reconciling it, so a final backup knows the leaving ones). */
  remember(desired: DesiredState): void {
    for (const i of desired.instances) if (i.continuity?.identityCopies === true) this.#known.set(i.id, i);
  }

  /** Remembers the instances of the desired state this device last worked towards (its local copy), if any. */
  async rememberLastApplied(): Promise<void> {
    const text = await readFile(join(this.#o.root, DESIRED_COPY), 'utf8').catch(() => null);
    if (text === null) return;
    try {
      const parsed = DesiredState.safeParse(JSON.parse(text));
      if (parsed.success) this.remember(parsed.data);
    } catch {
      // a damaged copy: the next desired state fills it
    }
  }

  /**
   * The agent's backup age for its metrics: the oldest change (new identity or store log) not yet in
   * a sent backup, in seconds — 0 when every backup is current, null when no instance here allows
   * copies. An idle server's unchanged store log does not age: nothing in it is at risk.
   */
  backupAgeSeconds(now: Date): number | null {
    if (this.#unsavedSince.size === 0) return null;
    const oldest = Math.min(...[...this.#unsavedSince.values()].map((t) => (t === 0 ? now.getTime() : t)));
    return Math.max(0, (now.getTime() - oldest) / 1000);
  }

  /**
   * The bus connection came back: parts sent meanwhile may have been lost (NATS drops what nobody
   * hears, and `serve` may not have been listening), which would leave a gap that makes the chain
   * unusable. So each instance's next scheduled store-log backup is a new base, even if its log did
   * not change — still at most one per backupInterval.
   */
  rebase(): void {
    for (const id of this.#known.keys()) this.#rebase.add(id);
  }

  /** Sends what is due for every instance of `desired`. Never throws: a failure is logged and retried next time. */
  async tick(desired: DesiredState, now: Date): Promise<void> {
    this.remember(desired);
    for (const id of this.#unsavedSince.keys()) if (!desired.instances.some((i) => i.id === id && i.continuity?.identityCopies === true)) this.#unsavedSince.delete(id);
    for (const i of desired.instances) {
      if (i.continuity?.identityCopies !== true) continue;
      await this.#backup(i, now, false).catch((err: unknown) => {
        this.#o.log.warn({ instance: i.id }, `backup not sent: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  }

  /** A last backup of a stopped instance before it is archived (the hand-over's store log). Never throws. */
  async final(instance: string): Promise<void> {
    const i = this.#known.get(instance);
    if (i === undefined) return;
    await this.#backup(i, new Date(), true).catch((err: unknown) => {
      this.#o.log.warn({ instance }, `final backup not sent: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  async #backup(i: DesiredInstance, now: Date, final: boolean): Promise<void> {
    const continuity = i.continuity;
    if (continuity === undefined) return;
    // The store log travels as a chain of its own (./store-log-chain.ts); the identity backup names its tip.
    const read = await readIdentity(this.#o.root, i, false);
    if (read === null) return; // not made yet
    const log = await readStoreLog(this.#o.root, i);
    const state = await this.#load();
    const identityHash = hash(JSON.stringify({ ...read, storeLog: undefined }));
    const storeLogHash = log === null ? hash('') : createHash('sha256').update(log).digest('hex');
    const last = state[i.id];
    let reason: BackupBody['reason'] | null = null;
    if (final) reason = 'final';
    else if (last?.identityHash !== identityHash) reason = 'identity';
    else if ((last.storeLogHash !== storeLogHash || (this.#rebase.has(i.id) && log !== null)) && now.getTime() - Date.parse(last.sentAt) >= continuity.backupSeconds * 1000) reason = 'store-log';
    if (reason === null) {
      // Held back by the interval: the change waits since the last backup was sent.
      const waiting = last !== undefined && last.storeLogHash !== storeLogHash;
      this.#unsavedSince.set(i.id, waiting ? Date.parse(last.sentAt) : 0);
      return;
    }
    const slot = backupSlot(this.#o.device, i.id);
    const revision = Math.floor(now.getTime() / 1000);
    const seal = async (kind: string, body: unknown) => {
      const sealed = await sealToMany({ kind, device: this.#o.device, revision, body }, { signingSecretKey: this.#o.signingSecretKey, recipients: continuity.recipients });
      if (sealed.byteLength > BACKUP_MAX_BYTES) throw new Error(`the sealed ${kind} has ${sealed.byteLength} bytes, more than ${BACKUP_MAX_BYTES}`);
      return sealed;
    };
    let chain = last?.chain;
    let tip: ChainTip | undefined;
    let storeLogNote: InstanceIdentity['storeLogNote'] = 'none';
    if (log !== null) {
      const plan = planStoreLog(log, this.#rebase.has(i.id) ? undefined : chain, read);
      if (plan.kind === 'too-large') {
        storeLogNote = 'too-large';
        chain = undefined;
        this.#o.log.warn({ instance: i.id, compressedBytes: plan.compressedBytes }, 'store log too large for a backup: left out');
      } else {
        if (plan.kind !== 'unchanged') {
          // The parts first: the identity backup that names the tip lands after them.
          for (const part of plan.parts) {
            const body: StoreLogPart = { device: this.#o.device, instance: i.id, fingerprint: read.fingerprint, epoch: read.epoch, takenAt: now.toISOString(), ...part };
            this.#o.send(`${slot}.${partName(part.part)}`, await seal(STORE_LOG_PART_KIND, body));
          }
          chain = plan.state;
          const why = this.#rebase.has(i.id) ? 'reconnected' : plan.reason;
          this.#o.log.info({ instance: i.id, seq: plan.state.seq, parts: plan.parts.length }, plan.kind === 'base' ? `store log base sent (${why})` : 'store log delta sent');
          const files = i.kind === 'xftp' ? instanceDataHeader(log) : null;
          if (files?.files === 'left-out') this.#o.log.info({ instance: i.id, xftpFilesMaxBytes: files.maxBytes }, 'XFTP files left out of the backup: they add up to more than xftpFilesMaxBytes (the store log goes alone)');
        }
        tip = plan.tip;
        storeLogNote = 'chain';
      }
    }
    const identity: InstanceIdentity = { ...read, storeLogNote };
    const body: BackupBody = { device: this.#o.device, takenAt: now.toISOString(), reason, identity, ...(tip === undefined ? {} : { storeLogChain: tip }) };
    const sealed = await seal(BACKUP_KIND, body);
    this.#o.send(slot, sealed);
    state[i.id] = { identityHash, storeLogHash, sentAt: now.toISOString(), ...(chain === undefined ? {} : { chain }) };
    this.#rebase.delete(i.id);
    this.#unsavedSince.set(i.id, 0);
    await this.#save(state);
    this.#o.log.info({ instance: i.id, reason, bytes: sealed.byteLength, storeLog: identity.storeLogNote }, `backup sent (${reason})`);
  }

  async #load(): Promise<SentState> {
    if (this.#state !== null) return this.#state;
    const text = await readFile(join(this.#o.root, BACKUP_STATE), 'utf8').catch(() => null);
    let parsed: ReturnType<typeof SentState.safeParse> | null = null;
    try {
      parsed = text === null ? null : SentState.safeParse(JSON.parse(text));
    } catch {
      parsed = null; // a damaged record: everything is sent again
    }
    this.#state = parsed?.success === true ? parsed.data : {};
    return this.#state;
  }

  async #save(state: SentState): Promise<void> {
    await writeFileAtomic(join(this.#o.root, BACKUP_STATE), `${JSON.stringify(state)}\n`, { mode: 0o600 });
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
