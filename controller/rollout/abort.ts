/**
 * `rollout abort`: gives every device a wave already changed the desired state it ran before the
 * rollout (as a new revision, since revisions only go up), and puts the previous plan record back,
 * so the fleet is where it was. Devices of waves not yet published were never changed.
 */
import { open, seal } from '#shared/crypto/envelope.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { ControllerSession } from '../bus/session.ts';
import { kvStore } from '../apply/store.ts';
import { listDevices } from '../state/devices.ts';
import { withStateLock } from '../state/lock.ts';
import type { StatePaths } from '../state/paths.ts';
import { readRollout, writeRollout, type RolloutState } from './state.ts';

export interface AbortResult {
  readonly state: RolloutState;
  /** Device → the revision its previous state went out as. */
  readonly reverted: Record<string, number>;
  /** Devices the rollout never changed (left alone). */
  readonly untouched: readonly string[];
  /** Devices changed that had no state before the rollout (left on the new one). */
  readonly noPrevious: readonly string[];
}

export async function abortRollout(paths: StatePaths, session: ControllerSession, rollout: RolloutState): Promise<AbortResult> {
  return withStateLock(paths, 'rollout', async () => {
    // Marked first: a driver still running sees it and publishes no further wave.
    let state = await writeRollout(paths.dir, { ...((await readRollout(paths.dir)) ?? rollout), status: 'aborted', driver: null });
    const own = kvStore(session.own);
    const desired = kvStore(session.desired);
    const keys = { signingSecretKey: session.secrets.signingSecretKey };
    const records = new Map((await listDevices(paths)).map((r) => [r.device, r]));
    const changed = state.waves.filter((w) => w.state !== 'pending').flatMap((w) => w.devices);
    const untouched = state.waves.filter((w) => w.state === 'pending').flatMap((w) => w.devices);
    const reverted: Record<string, number> = { ...state.reverted };
    const noPrevious: string[] = [];
    for (const id of changed) {
      const before = state.previous.desired[id] ?? null;
      const record = records.get(id);
      if (before === null || record === undefined) {
        noPrevious.push(id);
        continue;
      }
      if (reverted[id] !== undefined) continue;
      const opened = { identity: session.secrets.ageIdentity, signer: session.identity.signingKey, kind: 'desired-copy' as const, device: id, schema: DesiredState };
      const previous = (await open(Buffer.from(before, 'base64'), opened)).body;
      const currentCopy = await own.get(`desired.${id}`);
      const current = currentCopy === null ? previous.revision : (await open(currentCopy.value, opened)).body.revision;
      const revision = Math.max(current, previous.revision) + 1;
      const body = { ...previous, revision };
      await own.put(`desired.${id}`, await seal({ kind: 'desired-copy', device: id, revision, body }, { ...keys, recipient: session.identity.ageRecipient }), currentCopy?.revision ?? null);
      const entry = await desired.get(id);
      await desired.put(id, await seal({ kind: 'desired-state', device: id, revision, body }, { ...keys, recipient: record.ageRecipient }), entry?.revision ?? null);
      reverted[id] = revision;
      state = await writeRollout(paths.dir, { ...state, reverted });
    }
    if (state.previous.plan !== null && changed.length > 0) {
      const entry = await own.get('plan');
      await own.put('plan', Buffer.from(state.previous.plan, 'base64'), entry?.revision ?? null);
    }
    return { state, reverted, untouched, noPrevious };
  });
}
