/**
 * Publishing a fleet: plan against what is deployed, compile, seal each changed device's desired
 * state to that device, and put it — with compare-and-set on the controller's record of the plan,
 * so two concurrent applies cannot both win. Nothing is published when the plan is infeasible or a
 * placed device is not enrolled.
 */
import type { KV } from '@nats-io/kv';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { open, seal } from '#shared/crypto/envelope.ts';
import { InvalidInputError, PlanRefusedError } from '#shared/errors.ts';
import { DesiredState, type OnionClientKey } from '#shared/schema/desired-state.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import { PlannedInstance } from '#shared/schema/plan-file.ts';
import type { ControllerIdentity } from '../state/identity.ts';
import type { ControllerSecrets } from '../state/keys.ts';
import type { Store } from './store.ts';
import { compileDesired } from '../compile/index.ts';
import { explainPlan, plan, type PlanResult } from '../planner/index.ts';
import { loadSolver } from '../solver/highs.ts';
import { forEachBounded } from '#shared/async/bounded.ts';
import { prepareDownloads } from './restore-downloads.ts';

const AppliedPlan = z.object({ fleet: z.string(), placements: z.array(PlannedInstance) });

const PLAN_KEY = 'plan';
/** Devices published at once (a round trip each over Tor adds up). */
const PUBLISH_CONCURRENCY = 16;
const copyKey = (device: string) => `desired.${device}`;

/** Where publishing reads and writes: the controller's own records, and the devices' desired states. */
export interface PublishTarget {
  readonly own: Store;
  readonly desired: Store;
  readonly identity: ControllerIdentity;
  readonly secrets: ControllerSecrets;
  /** The `restores` bucket (absent: offline, a store log too large for a desired state stays behind). */
  readonly restores?: KV;
}

/** What is deployed now, as the controller recorded it (null before the first apply). */
export async function appliedPlacement(session: PublishTarget): Promise<{ placements: z.infer<typeof AppliedPlan>['placements']; kvRevision: number } | null> {
  const entry = await session.own.get(PLAN_KEY);
  if (entry === null) return null;
  const doc = await open(entry.value, { identity: session.secrets.ageIdentity, signer: session.identity.signingKey, kind: 'plan', device: 'controller', schema: AppliedPlan });
  return { placements: doc.body.placements, kvRevision: entry.revision };
}

async function desiredCopy(session: Pick<PublishTarget, 'own' | 'identity' | 'secrets'>, device: string): Promise<DesiredState | null> {
  const entry = await session.own.get(copyKey(device));
  if (entry === null) return null;
  return (await open(entry.value, { identity: session.secrets.ageIdentity, signer: session.identity.signingKey, kind: 'desired-copy', device, schema: DesiredState })).body;
}

/** The desired revision the controller last published for each device (0 when none). */
export async function appliedDesiredRevisions(session: Pick<PublishTarget, 'own' | 'identity' | 'secrets'>, devices: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const id of devices) out.set(id, (await desiredCopy(session, id))?.revision ?? 0);
  return out;
}

/** An instance that moves with its identity: the device it leaves (null: none recorded), the one it joins, and the epoch the leaving device holds. */
export interface HandOverMove {
  readonly instance: string;
  readonly from: string | null;
  readonly to: string;
  readonly fromEpoch: number;
}

export interface PublishResult {
  readonly plan: PlanResult;
  /** Device → the desired revision it must reach. */
  readonly revisions: ReadonlyMap<string, number>;
  /** Devices whose desired state changed (and was put). */
  readonly changed: readonly string[];
  /** Devices held back (PublishOptions.hold, or for a hand-over) whose desired state would change: a rollout's later waves. */
  readonly held: readonly string[];
  /** Instances that move with their identity, and the device each leaves (null: none recorded) and joins. */
  readonly handOver: readonly HandOverMove[];
  /** Devices held back (with `handOver`) until the devices their instances leave have stopped them. */
  readonly heldForHandOver: readonly string[];
}

export interface PublishOptions {
  /**
   * Devices whose desired state is not put this time (they keep running what they run): a drain's
   * first phase holds the draining device until its instances' replacements are healthy.
   */
  readonly hold?: ReadonlySet<string>;
  /** Who may open the devices' SSH onions (the admin's client key); see CompileInput.sshClientAuth. */
  readonly sshClientAuth?: readonly OnionClientKey[];
  /** Identities for instances that move and keep their address (see CompileInput.identities). */
  readonly identities?: ReadonlyMap<string, InstanceIdentity>;
  /** The gzip'd store logs those identities name as downloads, by SHA-256 (controller/apply/restore-downloads.ts). */
  readonly downloads?: ReadonlyMap<string, Uint8Array>;
  /**
   * Hold every device that would start an instance with a moved identity, so the device it leaves
   * stops it first: one onion is never served by two devices (docs/continuity.md, "Hand-over").
   */
  readonly handOver?: boolean;
  /** Rotations (see CompileInput.rotations) and the time that retires the retiring. */
  readonly rotations?: CompileRotations;
  readonly now?: Date;
}
type CompileRotations = NonNullable<Parameters<typeof compileDesired>[0]['rotations']>;

export async function publish(session: PublishTarget, spec: FleetSpec, devices: readonly EnrollmentRecord[], options: PublishOptions = {}): Promise<PublishResult> {
  const previous = await appliedPlacement(session);
  const result = plan(spec, previous?.placements ?? null, { solver: await loadSolver() });
  if (!result.feasible) throw new PlanRefusedError(explainPlan(result), { hint: 'run `onionfleet plan -f FILE --deployed` for the details (it sees the drained and revoked devices, as apply does)' });

  const enrolled = new Map(devices.map((d) => [d.device, d]));
  const active = spec.devices.filter((d) => d.state !== 'revoked').map((d) => d.id);
  const missing = active.filter((id) => !enrolled.has(id));
  if (missing.length > 0) {
    throw new InvalidInputError(missing.map((id) => ({ source: 'fleet.yaml', path: `devices.${id}`, message: 'is not enrolled' })), { hint: 'enroll it with `onionfleet-agent init` on the device and `onionfleet device add`, or mark it revoked' });
  }
  const previousDesired = new Map<string, DesiredState>();
  await forEachBounded(active, PUBLISH_CONCURRENCY, async (id) => {
    const copy = await desiredCopy(session, id);
    if (copy !== null) previousDesired.set(id, copy);
  });
  const states = compileDesired({
    spec, placement: result.placement, previous: previousDesired, randomBytes: (n) => randomBytes(n), controllerRecipient: session.identity.ageRecipient,
    ...(options.sshClientAuth === undefined ? {} : { sshClientAuth: options.sshClientAuth }), ...(options.identities === undefined ? {} : { identities: options.identities }),
    ...(options.rotations === undefined ? {} : { rotations: options.rotations }), ...(options.now === undefined ? {} : { now: options.now.toISOString() }),
  });
  // Where each instance runs now: the device whose last published desired state has it.
  const wasOn = new Map<string, string>();
  for (const [id, state] of previousDesired) for (const i of state.instances) wasOn.set(i.id, id);
  const handOver: HandOverMove[] = [];
  for (const [id, state] of states) {
    const had = new Set((previousDesired.get(id)?.instances ?? []).map((i) => i.id));
    // The identity given is the newest backup's, one epoch up: the device it leaves holds the epoch below.
    for (const i of state.instances) if (i.identity !== undefined && !had.has(i.id)) handOver.push({ instance: i.id, from: wasOn.get(i.id) ?? null, to: id, fromEpoch: i.identity.epoch - 1 });
  }
  const heldForHandOver = options.handOver === true ? [...new Set(handOver.map((h) => h.to))].sort() : [];
  const hold = new Set([...(options.hold ?? []), ...heldForHandOver]);

  // The lock: the plan record moves first, with compare-and-set on the revision read above.
  const sealedPlan = await seal({ kind: 'plan', device: 'controller', revision: 0, body: { fleet: spec.fleet, placements: result.placement } }, { signingSecretKey: session.secrets.signingSecretKey, recipient: session.identity.ageRecipient });
  await session.own.put(PLAN_KEY, sealedPlan, previous?.kvRevision ?? null);

  const changed: string[] = [];
  const revisions = new Map<string, number>();
  for (const [id, state] of states) revisions.set(id, hold.has(id) ? (previousDesired.get(id)?.revision ?? 0) : state.revision);
  // Devices are independent: seal and put them concurrently (a round trip each over Tor adds up).
  await forEachBounded([...states].filter(([id]) => !hold.has(id)), PUBLISH_CONCURRENCY, async ([id, state]) => {
    const before = previousDesired.get(id);
    const current = await session.desired.get(id);
    if (before !== undefined && before.revision === state.revision && current !== null) return;
    const record = enrolled.get(id);
    if (record === undefined) return;
    const keys = { signingSecretKey: session.secrets.signingSecretKey };
    // Downloads first: the device fetches them as soon as it hears the state that names them.
    const body = await prepareDownloads(session.restores, id, state, options.downloads ?? new Map(), { ...keys, recipient: record.ageRecipient });
    const copy = await seal({ kind: 'desired-copy', device: id, revision: state.revision, body }, { ...keys, recipient: session.identity.ageRecipient });
    const toDevice = await seal({ kind: 'desired-state', device: id, revision: state.revision, body }, { ...keys, recipient: record.ageRecipient });
    const copyEntry = await session.own.get(copyKey(id));
    await session.own.put(copyKey(id), copy, copyEntry?.revision ?? null);
    await session.desired.put(id, toDevice, current?.revision ?? null);
    changed.push(id);
  });
  changed.sort();
  const held = [...states].filter(([id, state]) => hold.has(id) && previousDesired.get(id)?.revision !== state.revision).map(([id]) => id).sort();
  return { plan: result, revisions, changed, held, handOver, heldForHandOver };
}

