/**
 * The pure parts of member continuity: the agent planner restores a given identity (and only then),
 * the compiler gives identities to instances new on a device and keeps them while they stay, the
 * newest backup wins by epoch before age, and fleet.yaml's `continuity:` is validated with clear lines.
 */
import { describe, expect, it } from 'vitest';
import { planSteps } from '../../../agent/reconcile/plan.ts';
import type { Step } from '../../../agent/reconcile/steps.ts';
import { compileDesired } from '../../../controller/compile/index.ts';
import { newestByInstance, type OpenedBackup } from '../../../controller/backup/open-backups.ts';
import { DesiredState, type DesiredInstance } from '#shared/schema/desired-state.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { CONTINUITY_DEFAULTS, resolveContinuity } from '#shared/schema/continuity.ts';
import type { BackupBody, InstanceIdentity } from '#shared/schema/identity.ts';
import { desiredState, instance, onionHostname } from '../../builders/desired.ts';
import { FakeDevice } from '../reconcile/fake-device.ts';

const PEM = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
function identityOf(i: DesiredInstance, seed: string, epoch = 1): InstanceIdentity {
  return {
    instance: i.id, kind: i.kind, group: i.group, epoch,
    onion: { hostname: onionHostname(seed), secretKeyFile: 'AAAA' },
    fingerprint: `${'f'.repeat(42)}${seed.length % 10}=`,
    caCert: PEM('CERTIFICATE'), caKey: PEM('PRIVATE KEY'), serverCert: PEM('CERTIFICATE'), serverKey: PEM('PRIVATE KEY'),
    password: i.password, storeLog: null, storeLogNote: 'none',
  };
}

function converge(device: FakeDevice, desired: DesiredState): Step[][] {
  const rounds: Step[][] = [];
  for (let r = 0; r < 6; r++) {
    const { steps } = planSteps(desired, device.observe(desired));
    if (steps.length === 0) return rounds;
    for (const step of steps) device.apply(step);
    rounds.push(steps);
  }
  throw new Error('no convergence');
}

describe('the agent planner and a moved identity', () => {
  it('restores it instead of making one, then plans nothing', () => {
    const base = desiredState();
    const moved = base.instances[0] as DesiredInstance;
    const desired = DesiredState.parse({ ...base, instances: base.instances.map((i) => (i.id === moved.id ? { ...i, identity: identityOf(i, 'moved') } : i)) });
    const device = new FakeDevice();
    const [first = [], ...rest] = converge(device, desired);
    expect(first.some((s) => s.action === 'restoreIdentity' && s.instance === moved.id)).toBe(true);
    expect(first.some((s) => (s.action === 'createOnionKey' && s.name === moved.id) || (s.action === 'initInstance' && s.instance === moved.id))).toBe(false);
    // Restored before its ini is written and it starts; tor reloads for the restored key.
    const at = (f: (s: Step) => boolean) => first.findIndex(f);
    expect(at((s) => s.action === 'restoreIdentity')).toBeLessThan(at((s) => s.action === 'startService' && s.instance === moved.id));
    expect(rest.flat().some((s) => s.action === 'reloadTor') || first.some((s) => s.action === 'reloadTor')).toBe(true);
    expect(device.onions.get(moved.id)).toBe(onionHostname('moved'));
    expect(planSteps(desired, device.observe(desired)).steps).toEqual([]);
  });

  it('stops and replaces an instance that serves another identity (a stale copy), archiving it first', () => {
    const base = desiredState();
    const device = new FakeDevice();
    converge(device, base);
    const target = base.instances[0] as DesiredInstance;
    const desired = DesiredState.parse({ ...base, revision: 2, instances: base.instances.map((i) => (i.id === target.id ? { ...i, identity: identityOf(i, 'newer', 3) } : i)) });
    const [round = []] = converge(device, desired);
    const stop = round.findIndex((s) => s.action === 'stopService' && s.instance === target.id);
    const restore = round.findIndex((s) => s.action === 'restoreIdentity' && s.instance === target.id);
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(restore).toBeGreaterThan(stop);
    expect(device.archived.some((d) => d.endsWith(`${target.id}-replaced`))).toBe(true);
    expect(device.fingerprints.get(target.id)).toBe(identityOf(target, 'newer').fingerprint);
  });

  it('refuses an identity that is not this instance\'s (schema)', () => {
    const i = instance('smp', 1);
    const other = identityOf(instance('smp', 2), 'x');
    expect(() => DesiredState.parse({ ...desiredState(), instances: [{ ...i, identity: other }] })).toThrow(/must be this instance's identity/);
  });
});

describe('the compiler and identities', () => {
  const spec = FleetSpec.parse({
    version: 1, fleet: 'f',
    operators: [{ id: 'o' }],
    devices: [{ id: 'd1', operator: 'o', location: 'l1', jurisdiction: 'DE' }, { id: 'd2', operator: 'o', location: 'l2', jurisdiction: 'DE' }],
    groups: [{ id: 'g', tier: 'standard', smp: 1, xftp: 0, continuity: { backupInterval: '2m' } }],
  });
  const random = (n: number) => new Uint8Array(n).fill(7);

  it('keeps a parsed spec parseable again (a rollout record stores it and parses it when it resumes)', () => {
    expect(FleetSpec.parse(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
  });

  const at = (device: 'd1' | 'd2') => ({ instance: 'g-smp-01', kind: 'smp' as const, group: 'g', device, operator: 'o', location: device === 'd1' ? 'l1' : 'l2', jurisdiction: 'DE' });
  const recipient = 'age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf';

  it('gives an instance new on a device its identity with the epoch raised, keeps the password, and keeps it while it stays', () => {
    const onD1 = compileDesired({ spec, placement: [at('d1')], previous: new Map(), randomBytes: random, controllerRecipient: recipient });
    const first = onD1.get('d1')?.instances[0] as DesiredInstance;
    expect(first.continuity).toEqual({ identityCopies: true, backupSeconds: 120, recipients: [recipient], holdAtBootSeconds: 1800, xftpFilesMaxBytes: CONTINUITY_DEFAULTS.standard.xftpFilesMaxBytes });
    expect(first.identity).toBeUndefined();
    const identity = identityOf(first, 'g', 4);
    const moved = compileDesired({ spec, placement: [at('d2')], previous: onD1, randomBytes: () => new Uint8Array(24).fill(9), controllerRecipient: recipient, identities: new Map([['g-smp-01', identity]]) });
    const onD2 = moved.get('d2')?.instances[0];
    expect(onD2?.identity?.epoch).toBe(5);
    expect(onD2?.password).toBe(first.password);
    expect(moved.get('d1')?.instances).toEqual([]);
    const again = compileDesired({ spec, placement: [at('d2')], previous: moved, randomBytes: random, controllerRecipient: recipient, identities: new Map() });
    expect(again.get('d2')?.revision).toBe(moved.get('d2')?.revision);
    expect(again.get('d2')?.instances[0]?.identity?.epoch).toBe(5);
  });

  it('gives no identity where the group allows no copies', () => {
    const noCopies = FleetSpec.parse({ ...spec, groups: [{ id: 'g', tier: 'extreme', smp: 1, xftp: 0 }] });
    const first = compileDesired({ spec: noCopies, placement: [at('d1')], previous: new Map(), randomBytes: random, controllerRecipient: recipient });
    const i = first.get('d1')?.instances[0] as DesiredInstance;
    const moved = compileDesired({ spec: noCopies, placement: [at('d2')], previous: first, randomBytes: () => new Uint8Array(24).fill(1), controllerRecipient: recipient, identities: new Map([['g-smp-01', identityOf(i, 'g')]]) });
    expect(moved.get('d2')?.instances[0]?.identity).toBeUndefined();
    expect(moved.get('d2')?.instances[0]?.password).not.toBe(i.password);
  });
});

describe('the newest backup', () => {
  const body = (device: string, epoch: number, takenAt: string): OpenedBackup => ({
    key: `${device}.0000000000000000`, device, sealed: new Uint8Array(), ok: true,
    body: { device, takenAt, reason: 'store-log', identity: { ...identityOf(instance('smp', 1), device, epoch) } } satisfies BackupBody,
  });
  it('wins by epoch first (a returning device\'s old copy never does), then by age; refused ones never', () => {
    const newest = newestByInstance([
      body('old', 1, '2026-12-03T12:00:00.000Z'),
      body('new', 2, '2026-12-03T10:00:00.000Z'),
      body('new', 2, '2026-12-03T11:00:00.000Z'),
      { key: 'evil.0000000000000000', device: 'evil', sealed: new Uint8Array(), ok: false, problem: 'bad-signature' },
    ]);
    expect(newest.get('newsroom-smp-01')?.device).toBe('new');
    expect(newest.get('newsroom-smp-01')?.takenAt).toBe('2026-12-03T11:00:00.000Z');
  });
});

describe('fleet.yaml continuity:', () => {
  const base = { version: 1, fleet: 'f', groups: [{ id: 'g', tier: 'high', smp: 2, xftp: 0 }] };
  const problems = (continuity: unknown) => {
    const r = FleetSpec.safeParse({ ...base, groups: [{ ...base.groups[0], continuity }] });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  it('accepts the keys and falls back to the tier defaults', () => {
    expect(problems({ identityCopies: true, backupInterval: '15m', offlineRecipients: ['age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf'] })).toEqual([]);
    expect(resolveContinuity('extreme', undefined, 'age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf').identityCopies).toBe(false);
    expect(CONTINUITY_DEFAULTS.high.identityCopies).toBe(true);
  });
  it('names the field of each problem', () => {
    expect(problems({ backupInterval: '1s' })).toEqual(['groups.0.continuity.backupInterval: must be at least 10s']);
    expect(problems({ identityCopies: 'yes' })[0]).toMatch(/^groups\.0\.continuity\.identityCopies: /);
    expect(problems({ offlineRecipients: ['age1nope'] })[0]).toMatch(/^groups\.0\.continuity\.offlineRecipients\.0: /);
    expect(problems({ copies: true })[0]).toMatch(/^groups\.0\.continuity: .*copies/);
    expect(problems({ identityCopies: false, offlineRecipients: ['age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf'] }))
      .toEqual(['groups.0.continuity.offlineRecipients: has no use with identityCopies: false (no backup of the group\'s identities is made)']);
  });
});

describe('bundles after a revocation', () => {
  it('list a revoked device\'s addresses as retired at once; other dropped ones get the usual delay', async () => {
    const { planBundle, RETIRE_AFTER_DAYS, addDays } = await import('../../../controller/bundle/document.ts');
    const a = (n: number) => `smp://${'f'.repeat(43)}=:password-${n}-xxxxxxxxxx@${onionHostname(`a${n}`)}`;
    const previous = { version: 1, date: '2026-12-01', smp: [a(1), a(2), a(3)], xftp: [], retire: [] };
    const next = planBundle(previous, { smp: [a(3), a(4)], xftp: [] }, '2026-12-03', new Set([a(1)]));
    expect(next.retire).toEqual([{ address: a(1), after: '2026-12-03' }, { address: a(2), after: addDays('2026-12-03', RETIRE_AFTER_DAYS) }]);
  });
});

describe('rotation', () => {
  it('moves the old identity aside, makes a new one, runs the old as retiring until its date, then stops and archives it', () => {
    const base = desiredState();
    const device = new FakeDevice();
    converge(device, base);
    const target = base.instances[0] as DesiredInstance;
    const oldFp = device.fingerprints.get(target.id) ?? '';
    const oldOnion = device.onions.get(target.id) ?? '';
    const rotated = DesiredState.parse({
      ...base, revision: 2,
      instances: base.instances.map((i) => (i.id === target.id ? { ...i, password: 'a-brand-new-password-456' } : i)),
      retiring: [{ instance: { ...target, localPort: 16000 }, fingerprint: oldFp, until: '2026-11-25T12:01:00.000Z' }],
      firewall: { loopbackOnlyPorts: [...base.firewall.loopbackOnlyPorts, 16000].sort((a, b) => a - b) },
    });
    const [first = []] = converge(device, rotated);
    const stop = first.findIndex((s) => s.action === 'stopService' && s.instance === target.id);
    const move = first.findIndex((s) => s.action === 'moveToRetiring' && s.instance === target.id);
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(move).toBeGreaterThan(stop);
    // The old identity runs as <id>-retiring; the instance has a new onion and fingerprint.
    expect(device.onions.get(`${target.id}-retiring`)).toBe(oldOnion);
    expect(device.services.get(`onionfleet-smp@${target.id}-retiring.service`)).toBe('active');
    expect(device.onions.get(target.id)).not.toBe(oldOnion);
    expect(device.fingerprints.get(target.id)).not.toBe(oldFp);
    expect(planSteps(rotated, device.observe(rotated)).steps).toEqual([]);

    device.now = '2026-11-25T12:01:00.000Z';
    const [after = []] = converge(device, rotated);
    expect(after.some((s) => s.action === 'stopService' && s.instance === `${target.id}-retiring`)).toBe(true);
    expect(after.some((s) => s.action === 'archiveInstance' && s.instance === `${target.id}-retiring`)).toBe(true);
    expect(device.services.get(`onionfleet-smp@${target.id}-retiring.service`)).toBe('inactive');
  });

  it('the planner counts a retiring instance\'s room until its date', async () => {
    const { withRetiringCapacity } = await import('../../../controller/state/rotations.ts');
    const spec = FleetSpec.parse({ version: 1, fleet: 'f', operators: [{ id: 'o' }], devices: [{ id: 'd1', operator: 'o', location: 'l', jurisdiction: 'DE', capacity: { maxInstances: 3, memoryMb: 1000 } }] });
    const rotations = { 'g-smp-01': { device: 'd1', fingerprint: 'x', address: 'y', until: '2026-12-03T12:01:00.000Z', published: true } };
    expect(withRetiringCapacity(spec, rotations, new Date('2026-12-03T12:00:00Z'), 45).devices[0]?.capacity).toEqual({ maxInstances: 2, memoryMb: 955 });
    expect(withRetiringCapacity(spec, rotations, new Date('2026-12-03T12:02:00Z'), 45).devices[0]?.capacity).toEqual({ maxInstances: 3, memoryMb: 1000 });
  });
});
