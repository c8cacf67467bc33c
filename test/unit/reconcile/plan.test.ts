/**
 * The agent's pure planner, driven round by round against an in-memory device until it plans
 * nothing.
 */
import { describe, expect, it } from 'vitest';
import { planSteps } from '../../../agent/reconcile/plan.ts';
import { describeStep, type Step } from '../../../agent/reconcile/steps.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../../builders/desired.ts';
import { FakeDevice } from './fake-device.ts';

/** Rounds of observe → plan → apply until a round plans nothing; returns the steps of each round. */
function converge(device: FakeDevice, desired: DesiredState, maxRounds = 5): Step[][] {
  const rounds: Step[][] = [];
  for (let r = 0; r < maxRounds; r++) {
    const { steps } = planSteps(desired, device.observe(desired));
    if (steps.length === 0) return rounds;
    for (const step of steps) device.apply(step);
    rounds.push(steps);
  }
  throw new Error(`no convergence in ${maxRounds} rounds`);
}

const index = (steps: Step[], match: (s: Step) => boolean) => steps.findIndex(match);

describe('agent planner', () => {
  it('converges a fresh device in two rounds (act, then record the revision) and then plans nothing', () => {
    const device = new FakeDevice();
    const desired = desiredState({ tier: 'elevated' });
    const rounds = converge(device, desired);
    expect(rounds).toHaveLength(2);
    expect(rounds[1]).toEqual([{ action: 'recordRevision', revision: 1 }]);
    expect(planSteps(desired, device.observe(desired)).steps).toEqual([]);
    expect([...device.services.values()]).toEqual(['active', 'active', 'active']);
  });

  it('orders each instance: onion key → init → ini → start; tor reloads after its files', () => {
    const device = new FakeDevice();
    const desired = desiredState();
    const [first = []] = converge(device, desired);
    for (const i of desired.instances) {
      const key = index(first, (s) => s.action === 'createOnionKey' && s.name === i.id);
      const init = index(first, (s) => s.action === 'initInstance' && s.instance === i.id);
      const ini = index(first, (s) => s.action === 'writeFile' && s.file.path.includes(`/${i.id}/`));
      const start = index(first, (s) => s.action === 'startService' && s.instance === i.id);
      expect([key, init, ini, start].every((x) => x >= 0)).toBe(true);
      expect(key < init && init < ini && ini < start).toBe(true);
    }
    const lastTorrc = Math.max(...first.flatMap((s, k) => (s.action === 'writeFile' && s.file.kind === 'torrc' ? [k] : [])));
    expect(index(first, (s) => s.action === 'reloadTor')).toBeGreaterThan(lastTorrc);
  });

  it('restarts only the instance whose configuration changed', () => {
    const device = new FakeDevice();
    const desired = desiredState();
    converge(device, desired);
    const changed = { ...desired, revision: 2, instances: desired.instances.map((i) => (i.id === 'newsroom-smp-02' ? { ...i, password: 'a-brand-new-password-123' } : i)) };
    const [round = []] = converge(device, changed);
    expect(round.map(describeStep)).toEqual([
      'update /etc/opt/simplex/newsroom-smp-02/smp-server.ini (smp-ini, mode 600)',
      'restart onionfleet-smp@newsroom-smp-02.service (its configuration changed)',
    ]);
  });

  it('stops a retired instance before archiving it, and reloads tor and the firewall', () => {
    const device = new FakeDevice();
    const desired = desiredState();
    converge(device, desired);
    const smaller = desiredState({ revision: 2, instances: desired.instances.filter((i) => i.id !== 'newsroom-xftp-01') });
    const [round = []] = converge(device, smaller);
    const stop = index(round, (s) => s.action === 'stopService' && s.instance === 'newsroom-xftp-01');
    const archive = index(round, (s) => s.action === 'archiveInstance' && s.instance === 'newsroom-xftp-01');
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(archive).toBeGreaterThan(stop);
    expect(round.map((s) => s.action)).toEqual(expect.arrayContaining(['reloadTor', 'applyFirewall']));
    expect(device.archived).toEqual(['newsroom-xftp-01']);
  });

  it('converges to the same device from any interrupted first round', () => {
    const reference = new FakeDevice();
    const desired = desiredState({ tier: 'elevated' });
    const [first = []] = converge(reference, structuredClone(desired));
    for (let k = 0; k <= first.length; k++) {
      const device = new FakeDevice();
      const steps = planSteps(desired, device.observe(desired)).steps;
      for (const step of steps.slice(0, k)) device.apply(step);
      converge(device, desired);
      expect(planSteps(desired, device.observe(desired)).steps).toEqual([]);
      expect([...device.services.values()].every((s) => s === 'active')).toBe(true);
      expect(device.record.revision).toBe(1);
      expect([...device.files.keys()].sort()).toEqual([...reference.files.keys()].sort());
    }
  });

  it('is blocked, not failing, when a binary is missing and not pinned', () => {
    const device = new FakeDevice();
    device.binaries.set('xftp-server', null);
    const desired = desiredState();
    const { steps, blocked } = planSteps(desired, device.observe(desired));
    expect(blocked).toEqual([expect.stringMatching(/^xftp-server is missing at .* and the fleet pins no download/)]);
    expect(steps.some((s) => (s.action === 'initInstance' || s.action === 'startService') && s.kind === 'xftp')).toBe(false);
    expect(steps.some((s) => s.action === 'startService' && s.kind === 'smp')).toBe(true);
    expect(steps.some((s) => s.action === 'recordRevision')).toBe(false);
  });

  it('installs a pinned binary first when it is missing or differs', () => {
    const device = new FakeDevice();
    device.binaries.set('smp-server', 'f'.repeat(64));
    const base = desiredState();
    const pin = { version: '6.5.0', url: 'https://example.org/smp-server', sha256: 'a'.repeat(64) };
    const desired = { ...base, binaries: { ...base.binaries, 'smp-server': { ...base.binaries['smp-server'], pin } } };
    const { steps } = planSteps(desired, device.observe(desired));
    expect(steps[0]).toMatchObject({ action: 'installBinary', name: 'smp-server', sha256: 'a'.repeat(64) });
  });

  it('removes the sshd drop-in and reloads sshd when SSH over Tor is turned off', () => {
    const device = new FakeDevice();
    converge(device, desiredState({ tier: 'elevated' }));
    const off = desiredState({ tier: 'elevated', overTor: false, revision: 2 });
    const [round = []] = converge(device, off);
    expect(round.map(describeStep)).toEqual(expect.arrayContaining(['remove /etc/ssh/sshd_config.d/onionfleet.conf (no longer managed for this desired state)', 'reload sshd (drop-in removed)']));
    expect(device.archived).toEqual(['ssh']);
  });

  it('reloads systemd only under systemd, and only when units change', () => {
    const device = new FakeDevice();
    const desired = desiredState();
    const first = planSteps(desired, device.observe(desired, 'systemd')).steps;
    expect(first.filter((s) => s.action === 'daemonReload')).toHaveLength(1);
    expect(planSteps(desired, device.observe(desired, 'supervisor')).steps.some((s) => s.action === 'daemonReload')).toBe(false);
  });
});
