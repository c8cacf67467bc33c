/** The demo's fleet: valid, feasible, and the story it promises (every device used, three operators, the high group spread). */
import { describe, expect, it } from 'vitest';
import { DEMO_DEVICES, DEMO_MEMBERS, demoFleetYaml } from '../../../controller/demo/fleet.ts';
import { plan } from '../../../controller/planner/index.ts';
import { parseFleetSpec } from '../../../controller/spec/parse.ts';
import { violations } from '../planner/rules.ts';

// Valid X25519 recipients (from age-keygen); the demo makes fresh ones each run.
const RECIPIENTS = [
  'age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf',
  'age1vkku3pl6zyf9k4tu7grh6w022kzzugxp429zrxvdnfuev6m3wc8s2dugsr',
  'age178j34pwnsk9m0hapts6tjqsrmlphqarw2m7vh988xexmqqcuxv8spvxelh',
];

describe('the demo fleet', () => {
  const text = demoFleetYaml(new Map(DEMO_MEMBERS.map((m, i) => [m, RECIPIENTS[i] ?? ''])));
  const parsed = parseFleetSpec(new TextEncoder().encode(text), 'fleet.yaml');

  it('is a valid fleet.yaml of 4 devices, 3 operators, 3 jurisdictions, a high and a standard group', () => {
    expect(parsed.ok ? [] : parsed.problems).toEqual([]);
    if (!parsed.ok) return;
    const spec = parsed.spec;
    expect(spec.devices.map((d) => d.id)).toEqual(['pi-1', 'pi-2', 'pi-3', 'pi-4']);
    expect(new Set(spec.devices.map((d) => d.operator)).size).toBe(3);
    expect(new Set(spec.devices.map((d) => d.jurisdiction)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(spec.devices.map((d) => d.location)).size).toBeGreaterThanOrEqual(3);
    expect(spec.groups.map((g) => g.tier).sort()).toEqual(['high', 'standard']);
  });

  it('is feasible, breaks no tier rule, and gives every simulated Pi something to run', () => {
    if (!parsed.ok) throw new Error('invalid');
    const result = plan(parsed.spec, null);
    expect(result.feasible).toBe(true);
    expect(violations(parsed.spec, result.placement)).toEqual([]);
    expect(new Set(result.placement.map((p) => p.device))).toEqual(new Set(DEMO_DEVICES.map((d) => d.id)));
    const high = result.placement.filter((p) => p.group === 'newsroom');
    expect(new Set(high.map((p) => p.operator)).size).toBe(3);
  });

  it('refuses to write a fleet without a recipient for every member', () => {
    expect(() => demoFleetYaml(new Map())).toThrow(/no recipient for demo member ana/);
  });
});
