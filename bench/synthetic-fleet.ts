/**
 * A synthetic fleet for benchmarks: `devices` Pis of 50 operators in 4 jurisdictions, 2% draining,
 * groups of mixed tiers adding up to `instances`. Deterministic for given sizes.
 */
import { FleetSpec, type Tier } from '#shared/schema/fleet-spec.ts';

const JURISDICTIONS = ['DE', 'NL', 'CH', 'IS'] as const;
const RECIPIENT = 'age1r5qxjnjeq9u55kydte0kk5p7rv0m4fa2529n8rpxq4lszuaw4yxqvm92lp';

/** Group shapes, cycled: shared standard/elevated groups, and one in ten dedicated (high or extreme). */
const SHAPES: readonly { tier: Tier; smp: number; xftp: number; dedicated: boolean }[] = [
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 10, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 6, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 12, xftp: 1, dedicated: false },
  { tier: 'high', smp: 10, xftp: 1, dedicated: true },
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 8, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 10, xftp: 2, dedicated: false },
  { tier: 'elevated', smp: 10, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 10, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 6, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 12, xftp: 1, dedicated: false },
  { tier: 'extreme', smp: 12, xftp: 1, dedicated: true },
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
  { tier: 'elevated', smp: 8, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 10, xftp: 2, dedicated: false },
  { tier: 'elevated', smp: 10, xftp: 1, dedicated: false },
  { tier: 'standard', smp: 10, xftp: 1, dedicated: false },
];

export function syntheticFleet(devices: number, instances: number, operators = 50): FleetSpec {
  const locationsPerOperator = Math.max(2, Math.round(devices / operators / 4));
  const deviceList = Array.from({ length: devices }, (_, i) => {
    const op = i % operators;
    const loc = Math.floor(i / operators) % locationsPerOperator;
    return {
      id: `pi-${String(i).padStart(5, '0')}`,
      operator: `op-${op}`,
      location: `op-${op}-site-${loc}`,
      jurisdiction: JURISDICTIONS[(op + loc) % JURISDICTIONS.length],
      capacity: { maxInstances: 16, memoryMb: 4096 },
      state: i % 50 === 7 ? 'draining' : 'active',
    };
  });
  const groups: { id: string; tier: Tier; smp: number; xftp: number; dedicated: boolean; members: string[] }[] = [];
  let left = instances;
  for (let i = 0; left > 0; i++) {
    const shape = SHAPES[i % SHAPES.length] ?? SHAPES[0]!;
    const smp = Math.min(shape.smp, Math.max(left - shape.xftp, 3));
    const xftp = Math.min(shape.xftp, left - smp);
    groups.push({ id: `group-${i}`, ...shape, smp, xftp: Math.max(xftp, 0), members: ['m'] });
    left -= smp + Math.max(xftp, 0);
  }
  return FleetSpec.parse({
    version: 1,
    fleet: 'bench',
    operators: Array.from({ length: operators }, (_, i) => ({ id: `op-${i}` })),
    devices: deviceList,
    groups,
    members: [{ id: 'm', recipient: RECIPIENT }],
  });
}
