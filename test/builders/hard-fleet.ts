/**
 * Seeded fleets near the limits, for checking the planner against its exact core (and for the
 * planner-exact benchmark): 2–6 operators, a few locations and jurisdictions each, small and mixed
 * capacities (some devices bound by memory), a few draining devices, and groups of every tier whose
 * demand is 60–100 % of the room. Same seed, same fleet.
 */
import type { Tier } from '#shared/schema/fleet-spec.ts';
import { fleet, type DeviceInput, type GroupInput } from './fleet.ts';

/** mulberry32: a small, good-enough PRNG with a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hardFleet(seed: number, devices: number) {
  const random = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const operators = int(2, 6);
  const jurisdictions = ['DE', 'NL', 'CH', 'IS', 'SE'].slice(0, int(2, 5));
  const deviceList: DeviceInput[] = Array.from({ length: devices }, (_, i) => {
    const op = i % operators;
    return {
      id: `pi-${String(i).padStart(3, '0')}`,
      operator: `op-${op}`,
      location: `op-${op}-site-${int(0, 2)}`,
      jurisdiction: pick(jurisdictions),
      maxInstances: int(2, 11),
      memoryMb: pick([512, 768, 1024, 2048, 4096]),
      state: random() < 0.08 ? 'draining' : 'active',
    };
  });
  const active = deviceList.filter((d) => d.state === 'active');
  const roomOf = (d: DeviceInput) => Math.min(d.maxInstances ?? 11, Math.floor(((d.memoryMb ?? 4096) - 300) / 45));
  const groups: GroupInput[] = [];
  // Dedicated groups take whole devices: about one for every six devices, each sized for a few.
  let devicesLeft = active.length;
  for (let i = 0, n = int(0, Math.floor(devices / 6)); i < n && devicesLeft >= 4; i++) {
    const tier = pick<Tier>(['high', 'high', 'extreme', 'elevated']);
    const smp = tier === 'extreme' ? int(3, 9) : tier === 'high' ? int(2, 8) : int(1, 6);
    const xftp = int(0, 2);
    groups.push({ id: `d${i}`, tier, smp, xftp, dedicated: true });
    devicesLeft -= tier === 'extreme' ? Math.max(3, Math.ceil(smp / Math.ceil(smp / 4))) + xftp : tier === 'high' ? 2 + Math.min(xftp, 1) : 1;
  }
  // Shared groups fill 60–100 % of the room the dedicated ones probably leave.
  const shareOfRoom = Math.max(0, devicesLeft) / Math.max(1, active.length);
  const room = active.reduce((n, d) => n + roomOf(d), 0) * shareOfRoom;
  const target = Math.floor(room * (0.6 + 0.4 * random()));
  for (let used = 0, i = 0; used < target; i++) {
    const tier = pick<Tier>(['standard', 'standard', 'elevated']);
    const smp = Math.min(int(1, 10), Math.max(1, target - used));
    const xftp = int(0, 2);
    groups.push({ id: `g${i}`, tier, smp, xftp });
    used += smp + xftp;
  }
  return fleet(deviceList, groups);
}
