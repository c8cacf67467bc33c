/**
 * Running a rollout: plan the waves of an apply, then for each wave publish its devices' desired
 * states (the later waves' devices held back), wait on its health gate, and promote it — recording
 * every step in rollout.json first, so a killed controller resumes where it was. Halts at the first
 * failed wave, naming the device, the instance and the reason.
 */
import { randomBytes } from 'node:crypto';
import { OperationFailedError } from '#shared/errors.ts';
import { pidAlive } from '#shared/os/live-process.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { ControllerSession } from '../bus/session.ts';
import { appliedPlacement, type PublishResult } from '../apply/publish.ts';
import { awaitFinalBackups, FINAL_BACKUP_WAIT_MS } from '../apply/hand-over.ts';
import { publishEffective } from '../apply/rollout.ts';
import { kvStore } from '../apply/store.ts';
import { listDevices } from '../state/devices.ts';
import { lostDevices, readDeviceStates } from '../state/device-states.ts';
import { withStateLock } from '../state/lock.ts';
import type { StatePaths } from '../state/paths.ts';
import type { RolloutEvent } from './events.ts';
import { readRollout, writeRollout, type RolloutState } from './state.ts';
import { watchGate } from './watch-gate.ts';
import { planWaves, type WaveOptions } from './waves.ts';

export interface RolloutContext {
  readonly paths: StatePaths;
  readonly session: ControllerSession;
  readonly emit: (event: RolloutEvent) => void;
}

const LOCK = 'rollout';
const b64 = (v: Uint8Array | undefined | null) => (v === undefined || v === null ? null : Buffer.from(v).toString('base64'));

/** Refuses to start or resume while another live process drives a rollout of this state. */
export async function assertNoLiveDriver(paths: StatePaths): Promise<RolloutState | null> {
  const existing = await readRollout(paths.dir);
  if (existing?.status === 'running' && existing.driver !== null && existing.driver !== process.pid && pidAlive(existing.driver)) {
    throw new OperationFailedError('rollout-running', `rollout ${existing.id} is being driven by pid ${existing.driver} (wave ${existing.current + 1}/${existing.waves.length})`, { hint: 'wait for it, or `onionfleet rollout pause` / `rollout abort` it first' });
  }
  return existing;
}

export interface Started {
  /** The recorded rollout; null when no device's desired state changes. */
  readonly state: RolloutState | null;
  /** Device → the revision it runs (unchanged devices) — for `apply --wait` with nothing to roll out. */
  readonly revisions: ReadonlyMap<string, number>;
  readonly diff: PublishResult['plan']['diff'];
}

/** Plans the rollout of `spec` and records it; nothing is published yet but the plan record. */
export async function startRollout(ctx: RolloutContext, spec: FleetSpec, options: WaveOptions): Promise<Started> {
  const { paths, session } = ctx;
  await assertNoLiveDriver(paths);
  const own = kvStore(session.own);
  const previousPlan = await own.get('plan');
  const before = await appliedPlacement({ own, desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets });
  // Every device held: this only plans, compiles and says which devices would change.
  const planned = await publishEffective(paths, session, spec, { hold: new Set(spec.devices.map((d) => d.id)) });
  // A device declared lost is dead: its new desired state (nothing to serve) goes out at once, for
  // when it comes back, and nothing waits on it (docs/continuity.md, "A device that comes back").
  const lost = lostDevices(await readDeviceStates(paths));
  const first = planned.held.some((id) => lost.has(id))
    ? await publishEffective(paths, session, spec, { hold: new Set(spec.devices.map((d) => d.id).filter((id) => !lost.has(id))) })
    : planned;
  const revisions = new Map([...first.revisions].filter(([id]) => !lost.has(id)));
  const held = first.held.filter((id) => !lost.has(id));
  if (held.length === 0) return { state: null, revisions, diff: first.plan.diff };
  const serves = new Map<string, Record<string, number>>();
  for (const p of before?.placements ?? []) {
    const counts = serves.get(p.device) ?? {};
    counts[p.group] = (counts[p.group] ?? 0) + 1;
    serves.set(p.device, counts);
  }
  const serving = (group: string) => (before?.placements ?? []).filter((p) => p.group === group).length;
  // A device an instance moves to with its identity changes after the device it leaves (hand-over).
  const handOver = first.handOver.filter((h) => h.from !== null && h.from !== h.to && held.includes(h.from));
  const after = (id: string) => handOver.flatMap((h) => (h.to === id && h.from !== null ? [h.from] : []));
  const waves = planWaves(held.map((id) => ({ id, serves: serves.get(id) ?? {}, after: after(id) })), spec.groups.map((g) => ({ id: g.id, tier: g.tier, serving: serving(g.id) })), options);
  const previousDesired: Record<string, string | null> = {};
  for (const id of held) previousDesired[id] = b64((await own.get(`desired.${id}`))?.value);
  const now = new Date().toISOString();
  const state: RolloutState = {
    version: 1, id: `${now.slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`, fleet: spec.fleet, status: 'running', startedAt: now, updatedAt: now, driver: process.pid,
    options, current: 0,
    waves: waves.waves.map((w) => ({ ...w, devices: [...w.devices], groups: [...w.groups], state: 'pending', revisions: {}, publishedAt: null, promotedAt: null })),
    groups: waves.groups, warnings: [...waves.warnings], failure: null, spec,
    previous: { plan: b64(previousPlan?.value), desired: previousDesired }, reverted: {}, handOver: [...handOver],
  };
  const saved = await writeRollout(paths.dir, state);
  ctx.emit({ event: 'planned', rollout: saved.id, waves: saved.waves.map((w) => ({ devices: w.devices, canary: w.canary, soakSeconds: w.soakSeconds })), warnings: saved.warnings });
  return { state: saved, revisions, diff: first.plan.diff };
}

export interface DriveOptions {
  /** Take each wave through its gate (false: publish the current wave and hand off). */
  readonly watch: boolean;
  /** When the whole drive must end (ms since the epoch). */
  readonly deadline: number;
}

export type DriveOutcome = 'completed' | 'halted' | 'timeout' | 'paused' | 'aborted' | 'handed-off';

/** Drives `state` from its current wave. Returns how it ended and the state as recorded. */
export interface Driven {
  readonly outcome: DriveOutcome;
  readonly state: RolloutState;
  /** On a timeout: every device of the wave not healthy yet, and why. */
  readonly pending?: readonly { device: string; reason: string }[];
}

export async function driveRollout(ctx: RolloutContext, start: RolloutState, options: DriveOptions): Promise<Driven> {
  const { paths, session } = ctx;
  let state = await writeRollout(paths.dir, { ...start, status: 'running', driver: process.pid, failure: null });
  const spec = FleetSpec.parse(state.spec);
  const of = state.waves.length;
  // Every write keeps what `rollout pause` or `rollout abort` recorded meanwhile (under the lock they take too).
  const save = (next: RolloutState) => withStateLock(paths, LOCK, async () => {
    const onDisk = await readRollout(paths.dir);
    const stopped = onDisk?.id === next.id && (onDisk.status === 'paused' || onDisk.status === 'aborted') && next.status === 'running';
    state = await writeRollout(paths.dir, stopped ? { ...next, status: onDisk.status, reverted: onDisk.reverted } : next);
    return state;
  });
  const release = (patch: Partial<RolloutState>) => save({ ...state, driver: null, ...patch });
  while (state.current < of) {
    const k = state.current;
    const recorded = await readRollout(paths.dir);
    if (recorded?.status === 'aborted') return { outcome: 'aborted', state: recorded };
    if (recorded?.status === 'paused') {
      state = await release({ status: 'paused' });
      ctx.emit({ event: 'paused', wave: k + 1, of });
      return { outcome: 'paused', state };
    }
    let wave = state.waves[k];
    if (wave === undefined) break;
    if (wave.state === 'pending') {
      const receiving = state.handOver.filter((h) => wave?.devices.includes(h.to) === true);
      if (receiving.length > 0) {
        // The devices these instances leave passed an earlier gate (they stopped them); their final
        // backups carry the newest store logs. Waited for briefly: the newest backups serve without.
        const missing = await awaitFinalBackups(paths, session, receiving, Math.min(options.deadline, Date.now() + FINAL_BACKUP_WAIT_MS));
        ctx.emit({ event: 'hand-over', wave: k + 1, of, instances: receiving.map((h) => h.instance), withoutFinal: missing });
      }
      const later = new Set(state.waves.slice(k + 1).flatMap((w) => w.devices));
      const published = await withStateLock(paths, LOCK, async () => {
        const again = await readRollout(paths.dir);
        if (again?.status === 'aborted' || again?.status === 'paused') return null;
        return publishEffective(paths, session, spec, { hold: later });
      });
      if (published === null) continue; // paused or aborted meanwhile: the top of the loop says which
      const revisions = Object.fromEntries(wave.devices.map((d) => [d, published.revisions.get(d) ?? 0]));
      wave = { ...wave, state: 'published', revisions, publishedAt: new Date().toISOString() };
      await save({ ...state, waves: state.waves.map((w, i) => (i === k ? wave ?? w : w)) });
      ctx.emit({ event: 'wave-published', wave: k + 1, of, devices: wave.devices, revisions });
    }
    if (!options.watch) {
      state = await release({});
      ctx.emit({ event: 'handed-off', wave: k + 1, of });
      return { outcome: 'handed-off', state };
    }
    const revisions = new Map(Object.entries(wave.revisions));
    const gated = await watchGate(session, await listDevices(paths), revisions, {
      soakMs: wave.soakSeconds * 1000,
      onion: wave.groups.length > 0, // a wave that serves nobody yet (a first deployment) does not wait for new onions to publish
      deadline: options.deadline,
      onChange: (gate) => {
        ctx.emit({ event: 'wave-waiting', wave: k + 1, of, done: gate.devices.filter((d) => d.state === 'healthy').length, total: gate.devices.length, waiting: gate.devices.flatMap((d) => (d.state === 'waiting' ? [{ device: d.device, reason: d.reason }] : [])) });
      },
      onSoak: () => { ctx.emit({ event: 'wave-soaking', wave: k + 1, of, soakSeconds: wave.soakSeconds }); },
      // A pause lets the current wave finish its gate (no new wave starts); an abort ends the wait.
      shouldStop: async () => (await readRollout(paths.dir))?.status === 'aborted',
    });
    if (gated.outcome === 'stopped') return { outcome: 'aborted', state: (await readRollout(paths.dir)) ?? state };
    if (gated.outcome === 'failed') {
      const f = gated.gate.failure;
      const failure = { wave: k + 1, device: f.device, instance: f.instance, reason: f.reason };
      state = await release({ status: 'halted', failure, waves: state.waves.map((w, i) => (i === k ? { ...w, state: 'failed' as const } : w)) });
      ctx.emit({ event: 'halted', failure });
      return { outcome: 'halted', state };
    }
    if (gated.outcome === 'timeout') {
      const waiting = gated.gate.devices.find((d) => d.state !== 'healthy');
      const failure = { wave: k + 1, device: waiting?.device ?? '?', instance: null, reason: `timed out: ${waiting?.state === 'waiting' ? waiting.reason : 'no status'}` };
      state = await release({ status: 'halted', failure });
      ctx.emit({ event: 'halted', failure });
      return { outcome: 'timeout', state, pending: gated.gate.devices.flatMap((d) => (d.state === 'waiting' ? [{ device: d.device, reason: d.reason }] : [])) };
    }
    await save({ ...state, current: k + 1, waves: state.waves.map((w, i) => (i === k ? { ...w, state: 'promoted' as const, promotedAt: new Date().toISOString() } : w)) });
    ctx.emit({ event: 'wave-promoted', wave: k + 1, of });
  }
  state = await release({ status: 'completed' });
  ctx.emit({ event: 'completed', waves: of, devices: state.waves.reduce((n, w) => n + w.devices.length, 0) });
  return { outcome: 'completed', state };
}
