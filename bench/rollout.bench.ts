/**
 * Rollout benchmark (issue 16): 50 simulated devices (one worker process, no-op reconciler) of 5
 * operators, with standard, elevated and high groups. A first apply deploys everything (one wave);
 * then a change to every device (a new binary pin) rolls out with the default waves (canary, then at
 * most one device per group at a time). Soak is set to 0 so the figures are the rollout's own cost —
 * publish, gate, promote — not the per-tier soak (docs/rollouts.md) that a real rollout adds per wave.
 * Reports the waves, the total time and the time per wave.
 */
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { driveRollout, startRollout } from '../controller/rollout/drive.ts';
import type { RolloutEvent } from '../controller/rollout/events.ts';
import { simulatedFleet } from './simulated-agents.ts';

const DEVICES = 50;
const OPERATORS = 5;

function spec(devices: readonly string[], pinned: boolean): FleetSpec {
  const tiers = ['standard', 'standard', 'elevated', 'high'] as const;
  return FleetSpec.parse({
    version: 1, fleet: 'bench-rollout',
    operators: Array.from({ length: OPERATORS }, (_, o) => ({ id: `op-${o}` })),
    devices: devices.map((id, i) => ({ id, operator: `op-${i % OPERATORS}`, location: `${id}-site`, jurisdiction: 'DE' })),
    groups: Array.from({ length: 16 }, (_, g) => ({ id: `g${g}`, tier: tiers[g % tiers.length], smp: 6, xftp: 0, members: ['m'] })),
    members: [{ id: 'm', passphrase: true }],
    ...(pinned ? { binaries: { 'smp-server': { version: '6.4.6', url: 'https://downloads.example.net/smp-server', sha256: 'a'.repeat(64) } } } : {}),
  });
}

export async function rollout(): Promise<Record<string, unknown>[]> {
  const fleet = await simulatedFleet(DEVICES, 1);
  try {
    const stamps: { wave: number; event: string; at: number }[] = [];
    const emit = (e: RolloutEvent) => {
      if (e.event === 'planned') stamps.push({ wave: 0, event: 'wave-promoted', at: performance.now() });
      if (e.event === 'wave-published' || e.event === 'wave-promoted') stamps.push({ wave: e.wave, event: e.event, at: performance.now() });
    };
    const ctx = { paths: fleet.paths, session: fleet.session, emit };
    const options = { strategy: 'rolling' as const, canary: null, maxUnavailable: null, soakSeconds: 0 };
    const first = await startRollout(ctx, spec(fleet.devices, false), options);
    if (first.state === null) throw new Error('the first apply changed nothing');
    const deployed = await driveRollout(ctx, first.state, { watch: true, deadline: Date.now() + 300_000 });
    if (deployed.outcome !== 'completed') throw new Error(`first deployment: ${deployed.outcome}`);
    stamps.length = 0;
    const t0 = performance.now();
    const started = await startRollout(ctx, spec(fleet.devices, true), options);
    if (started.state === null) throw new Error('the change changed nothing');
    const driven = await driveRollout(ctx, started.state, { watch: true, deadline: Date.now() + 600_000 });
    const totalMs = performance.now() - t0;
    // A wave's time: from the previous wave's promotion (the plan, for the first) to its own —
    // publishing (a re-plan and compile, then seal and put its devices) plus its health gate.
    const at = (wave: number, event: string) => stamps.find((s) => s.wave === wave && s.event === event)?.at ?? Number.NaN;
    const perWave = started.state.waves.map((w, k) => ({
      devices: w.devices.length,
      ms: Math.round(at(k + 1, 'wave-promoted') - at(k, 'wave-promoted')),
      gateMs: Math.round(at(k + 1, 'wave-promoted') - at(k + 1, 'wave-published')),
    }));
    const times = perWave.map((w) => w.ms).sort((a, b) => a - b);
    return [{
      devices: DEVICES,
      outcome: driven.outcome,
      waves: perWave.length,
      canary: started.state.waves[0]?.devices.length ?? 0,
      totalMs: Math.round(totalMs),
      planMs: Math.round(at(0, 'wave-promoted') - t0),
      waveMsMedian: times[Math.floor(times.length / 2)] ?? null,
      waveMsMax: times[times.length - 1] ?? null,
      perWave,
      soakSeconds: 0,
    }];
  } finally {
    await fleet.stop();
  }
}
