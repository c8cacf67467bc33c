/**
 * Planner benchmarks on synthetic fleets (mixed tiers, 50 operators, 4 jurisdictions, 2% draining).
 * Target (issue 2): ≥ 40,000 placements per second at 5,000 devices; after one device is lost,
 * exactly its instances move.
 */
import { plan } from '../controller/planner/index.ts';
import { syntheticFleet } from './synthetic-fleet.ts';

const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function planner(): Record<string, unknown>[] {
  return [
    [1000, 10_000],
    [5000, 50_000],
  ].map(([devices = 0, instances = 0]) => {
    const spec = syntheticFleet(devices, instances);
    plan(spec, null); // warm-up: JIT and caches
    const times: number[] = [];
    let placed = 0;
    let feasible = true;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const result = plan(spec, null);
      times.push(performance.now() - t0);
      placed = result.placement.length;
      feasible &&= result.feasible;
    }
    const ms = median(times);
    return { devices, instances, feasible, ms: Math.round(ms), placementsPerSecond: Math.round((placed / ms) * 1000) };
  });
}

export function plannerChurn(): Record<string, unknown>[] {
  const spec = syntheticFleet(5000, 50_000);
  const first = plan(spec, null);
  const perDevice = new Map<string, number>();
  for (const p of first.placement) perDevice.set(p.device, (perDevice.get(p.device) ?? 0) + 1);
  // The device holding most instances: the hardest single loss.
  const [lost = '', onLost = 0] = [...perDevice.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0] ?? [];
  const t0 = performance.now();
  const after = plan({ ...spec, devices: spec.devices.filter((d) => d.id !== lost) }, first.placement);
  const ms = performance.now() - t0;
  return [
    {
      devices: 5000,
      instances: 50_000,
      feasible: after.feasible,
      instancesOnLostDevice: onLost,
      movedAfterOneDeviceLoss: after.diff.moved.length,
      replanMs: Math.round(ms),
    },
  ];
}
