/**
 * Builders for fleet specs with sensible defaults, so a test states only what it is about.
 * `fleet()` returns a parsed FleetSpec (defaults filled in), exactly what `plan()` receives.
 */
import { FleetSpec, type Tier } from '#shared/schema/fleet-spec.ts';

export interface DeviceInput {
  id: string;
  operator: string;
  location?: string;
  jurisdiction?: string;
  maxInstances?: number;
  memoryMb?: number;
  state?: 'active' | 'draining' | 'revoked';
}

export interface GroupInput {
  id: string;
  tier?: Tier;
  smp?: number;
  xftp?: number;
  dedicated?: boolean;
}

export const RECIPIENT = 'age1r5qxjnjeq9u55kydte0kk5p7rv0m4fa2529n8rpxq4lszuaw4yxqvm92lp';

/** A parsed spec. Operators are derived from the devices; locations default to `<device>-loc`, jurisdiction to DE. */
export function fleet(devices: readonly DeviceInput[], groups: readonly GroupInput[]): FleetSpec {
  const operators = [...new Set(devices.map((d) => d.operator))].map((id) => ({ id }));
  return FleetSpec.parse({
    version: 1,
    fleet: 'test-fleet',
    operators,
    devices: devices.map((d) => ({
      id: d.id,
      operator: d.operator,
      location: d.location ?? `${d.id}-loc`,
      jurisdiction: d.jurisdiction ?? 'DE',
      capacity: { maxInstances: d.maxInstances ?? 11, memoryMb: d.memoryMb ?? 4096 },
      state: d.state ?? 'active',
    })),
    groups: groups.map((g) => ({ id: g.id, tier: g.tier ?? 'standard', smp: g.smp ?? 10, xftp: g.xftp ?? 1, dedicated: g.dedicated ?? false, members: ['m'] })),
    members: [{ id: 'm', recipient: RECIPIENT }],
  });
}

/** `count` devices of one operator, in distinct locations, all in `jurisdiction`. */
export function devicesOf(operator: string, count: number, extra: Partial<DeviceInput> = {}): DeviceInput[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${operator}-pi-${i + 1}`, operator, ...extra }));
}
