/**
 * The health gate and the agent's revision guard, on hand-made statuses: which status promotes a
 * wave, which fails it (naming device, instance and reason), and when an agent goes back by itself.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceStatus, InstanceStatus } from '#shared/schema/status.ts';
import { gateDevice, gateWave } from '../../../controller/rollout/gate.ts';
import { LAST_GOOD, MAX_FAILED_ATTEMPTS, REVERTED, RevisionGuard } from '../../../agent/rollout/guard.ts';
import { desiredState } from '../../builders/desired.ts';

function inst(id: string, healthy = true, extra: Partial<InstanceStatus> = {}): InstanceStatus {
  return { id, kind: 'smp', group: 'fam', service: healthy ? 'active' : 'failed', onion: null, fingerprint: null, address: null, probe: null, onionProbe: null, healthy, ...extra };
}

function status(revision: number, extra: Partial<DeviceStatus> = {}): DeviceStatus {
  return {
    kind: 'onionfleet/status', version: 1, device: 'pi-1', desiredRevision: revision, appliedRevision: revision, converged: true, refused: null, error: null, blocked: [],
    instances: [inst('fam-smp-01'), inst('fam-smp-02')], observedAt: '2026-12-03T10:00:00.000Z', agentVersion: '0.1.0', ...extra,
  };
}

describe('gateDevice', () => {
  it('is healthy only on the new revision, converged, every instance healthy and answering through tor', () => {
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4) })).toEqual({ device: 'pi-1', state: 'healthy' });
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(3) })).toMatchObject({ state: 'waiting', reason: 'still on revision 3' });
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4, { appliedRevision: 3, converged: false }) })).toMatchObject({ state: 'waiting', reason: 'applying revision 4' });
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4, { instances: [inst('fam-smp-01', false)] }) })).toMatchObject({ state: 'waiting', reason: 'unhealthy: fam-smp-01' });
    const dark = { reachable: false, identityOk: false, helloOk: false, latencyMs: null, error: 'intro failed', socksFailure: 'intro-failed', checkedAt: '2026-12-03T10:00:00.000Z' };
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4, { instances: [inst('fam-smp-01', true, { onionProbe: dark })] }) })).toMatchObject({ state: 'waiting', reason: 'not reachable through tor yet: fam-smp-01' });
    expect(gateDevice({ device: 'pi-1', revision: 4, status: null })).toMatchObject({ state: 'waiting', reason: 'no status' });
    // A wave of devices that served nothing yet does not wait for new onions to publish.
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4, { instances: [inst('fam-smp-01', true, { onionProbe: dark })] }), onion: false }).state).toBe('healthy');
  });

  it('fails when the agent went back by itself or refused the revision, naming the instance and reason', () => {
    const reverted = { revision: 4, to: 3, instance: 'fam-smp-02', reason: 'failed 2 times: exited with code 1', at: '2026-12-03T10:00:00.000Z' };
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(4, { appliedRevision: 3, reverted }) })).toEqual({ device: 'pi-1', state: 'failed', instance: 'fam-smp-02', reason: 'went back to revision 3 by itself: failed 2 times: exited with code 1' });
    // An older revert does not fail a newer revision.
    expect(gateDevice({ device: 'pi-1', revision: 5, status: status(5, { reverted }) }).state).toBe('healthy');
    expect(gateDevice({ device: 'pi-1', revision: 4, status: status(3, { refused: { revision: 4, reasons: ['limits'] } }) })).toMatchObject({ state: 'failed', reason: 'refused revision 4: limits' });
  });

  it('a wave fails at its first failed device, else waits until all are healthy', () => {
    const reverted = { revision: 4, to: 3, instance: null, reason: 'x', at: '2026-12-03T10:00:00.000Z' };
    const wave = gateWave([{ device: 'pi-2', revision: 4, status: status(4, { reverted }) }, { device: 'pi-1', revision: 4, status: status(4) }]);
    expect(wave.state === 'failed' && wave.failure.device).toBe('pi-2');
    expect(gateWave([{ device: 'pi-1', revision: 4, status: status(4) }, { device: 'pi-2', revision: 4, status: null }])).toMatchObject({ state: 'waiting', done: 1 });
    expect(gateWave([{ device: 'pi-1', revision: 4, status: status(4) }]).state).toBe('healthy');
  });
});

describe('RevisionGuard', () => {
  const root = () => mkdtempSync(join(tmpdir(), 'onionfleet-guard-'));

  it('remembers a healthy revision as the last good one (0600), and goes back to it after repeated failures', async () => {
    const dir = root();
    const guard = await RevisionGuard.open(dir, 300);
    const good = desiredState({ revision: 3 });
    guard.begin(good, 0);
    expect(await guard.evaluate(status(3), () => Promise.reject(new Error('no')), 1)).toBe('healthy');
    expect(statSync(join(dir, LAST_GOOD)).mode & 0o777).toBe(0o600);

    const bad = desiredState({ revision: 4 });
    const wentBack: number[] = [];
    const goBack = (d: { revision: number }) => { wentBack.push(d.revision); return Promise.resolve(); };
    guard.begin(bad, 10);
    for (let k = 1; k < MAX_FAILED_ATTEMPTS; k++) {
      guard.failed(4, 'onionfleet-smp@fam-smp-01.service exited with code 1 while starting');
      expect(await guard.evaluate(status(4, { appliedRevision: 3, converged: false, error: 'x' }), goBack, 20)).toBe('waiting');
    }
    guard.failed(4, `${bad.instances[0]?.id ?? ''} exited with code 1 while starting`);
    expect(await guard.evaluate(status(4, { appliedRevision: 3, converged: false, error: 'x' }), goBack, 30)).toBe('reverted');
    expect(wentBack).toEqual([3]);
    expect(guard.reverted()).toMatchObject({ revision: 4, to: 3, instance: bad.instances[0]?.id });
    expect(guard.refuses(4)).toBe(true);
    expect(guard.refuses(5)).toBe(false);
    // It survives a restart of the agent.
    const again = await RevisionGuard.open(dir, 300);
    expect(again.refuses(4)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, REVERTED), 'utf8'))).toMatchObject({ revision: 4, to: 3 });
  });

  it('goes back when a revision stays unhealthy past its deadline, and not before', async () => {
    const guard = await RevisionGuard.open(root(), 60);
    guard.begin(desiredState({ revision: 1 }), 0);
    await guard.evaluate(status(1), () => Promise.resolve(), 0);
    guard.begin(desiredState({ revision: 2 }), 1_000);
    const sick = status(2, { instances: [inst('fam-smp-01', false)] });
    expect(await guard.evaluate(sick, () => Promise.resolve(), 60_999)).toBe('waiting');
    expect(await guard.evaluate(sick, () => Promise.resolve(), 61_000)).toBe('reverted');
    expect(guard.reverted()).toMatchObject({ revision: 2, to: 1, instance: 'fam-smp-01' });
    expect(guard.reverted()?.reason).toMatch(/^not healthy within 60 s: instance fam-smp-01 is not healthy/);
  });

  it('without a last good revision it keeps trying instead of going back', async () => {
    const guard = await RevisionGuard.open(root(), 1);
    guard.begin(desiredState({ revision: 1 }), 0);
    guard.failed(1, 'boom');
    guard.failed(1, 'boom');
    expect(await guard.evaluate(status(1, { converged: false, error: 'boom' }), () => Promise.reject(new Error('must not go back')), 5_000)).toBe('waiting');
    expect(guard.reverted()).toBeNull();
  });
});
