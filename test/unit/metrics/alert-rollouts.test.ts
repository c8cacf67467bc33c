/**
 * The "rollout halted" alert reads the rollout `apply` records (controller/rollout/state.ts): a
 * halted rollout becomes one view with the failed wave's device, instance and reason.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRollouts } from '../../../controller/alerts/state-file.ts';
import { writeRollout, type RolloutState } from '../../../controller/rollout/state.ts';

describe('readRollouts', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onionfleet-alert-rollouts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const halted: RolloutState = {
    version: 1, id: 'r-1', fleet: 'f', status: 'halted', startedAt: '2026-12-03T00:00:00Z', updatedAt: '2026-12-03T00:00:00Z', driver: null,
    options: { strategy: 'rolling', canary: null, maxUnavailable: null, soakSeconds: null }, current: 0,
    waves: [{ devices: ['pi-1'], canary: true, soakSeconds: 0, groups: ['press'], state: 'failed', revisions: { 'pi-1': 3 }, publishedAt: null, promotedAt: null }],
    groups: {}, warnings: [], failure: { wave: 1, device: 'pi-1', instance: 'press-smp-01', reason: 'went back by itself' }, spec: {},
    previous: { plan: null, desired: {} }, reverted: {}, handOver: [],
  };

  it('is empty without a rollout record', async () => {
    expect(await readRollouts(dir)).toEqual([]);
  });

  it('names the failed wave, device, instance and reason of a halted rollout', async () => {
    await writeRollout(dir, halted);
    expect(await readRollouts(dir)).toEqual([{ id: 'r-1', state: 'halted', reason: 'wave 1: pi-1 (press-smp-01): went back by itself' }]);
  });
});
