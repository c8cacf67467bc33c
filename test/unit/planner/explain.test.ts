import { describe, expect, it } from 'vitest';
import { explain, plan, type Unmet } from '../../../controller/planner/index.ts';
import { devicesOf, fleet, type DeviceInput, type GroupInput } from '../../builders/fleet.ts';

interface Case {
  name: string;
  devices: DeviceInput[];
  groups: GroupInput[];
  rule: Unmet['rule'];
  says: RegExp[];
}

const cases: Case[] = [
  {
    name: 'too few SMP instances for the tier',
    devices: [...devicesOf('alice', 2), ...devicesOf('bob', 2)],
    groups: [{ id: 'news', tier: 'high', smp: 1 }],
    rule: 'instances-for-tier',
    says: [/^group news \(high\)/, /smp is 1/, /set smp to 2 or more, or lower the tier/],
  },
  {
    name: 'one operator for a high group, the other one draining',
    devices: [...devicesOf('alice', 3), { id: 'bob-pi', operator: 'bob', state: 'draining' }],
    groups: [{ id: 'news', tier: 'high', smp: 4 }],
    rule: 'operators',
    says: [/group news \(high\): needs SMP on at least 2 operators; only alice has eligible devices/, /1 draining/, /add an active device of another operator/],
  },
  {
    name: 'two operators in one location',
    devices: [...devicesOf('alice', 2, { location: 'office' }), ...devicesOf('bob', 2, { location: 'office' })],
    groups: [{ id: 'news', tier: 'high', smp: 4 }],
    rule: 'locations',
    says: [/needs SMP in at least 2 locations; eligible devices are only in office/, /add a device in another location/],
  },
  {
    name: 'three operators in two jurisdictions',
    devices: [
      ...devicesOf('a', 2, { jurisdiction: 'DE' }),
      ...devicesOf('b', 2, { jurisdiction: 'DE' }),
      ...devicesOf('c', 2, { jurisdiction: 'NL' }),
    ],
    groups: [{ id: 'src', tier: 'extreme', smp: 6 }],
    rule: 'jurisdictions',
    says: [/group src \(extreme\): needs SMP in at least 3 jurisdictions; eligible devices are only in DE, NL/],
  },
  {
    name: 'operators, locations and jurisdictions each enough, never together',
    devices: [
      { id: 'a-1', operator: 'a', location: 'l1', jurisdiction: 'DE' },
      { id: 'a-2', operator: 'a', location: 'l2', jurisdiction: 'NL' },
      { id: 'a-3', operator: 'a', location: 'l3', jurisdiction: 'AT' },
      { id: 'b-1', operator: 'b', location: 'l1', jurisdiction: 'DE' },
      { id: 'c-1', operator: 'c', location: 'l1', jurisdiction: 'DE' },
    ],
    groups: [{ id: 'src', tier: 'extreme', smp: 3, xftp: 0 }],
    rule: 'diversity',
    says: [/no set of eligible devices spans 3 operators, 3 locations and 3 jurisdictions at once/],
  },
  {
    name: 'more SMP than the fleet can hold',
    devices: [{ id: 'pi', operator: 'o' }],
    groups: [{ id: 'fam', smp: 20, xftp: 0 }],
    rule: 'capacity',
    says: [/needs room for 20 SMP instances; eligible devices hold 11 — add devices, raise capacity \(maxInstances, memoryMb\), or lower smp\.$/],
  },
  {
    name: 'SMP caps per operator make the room too small',
    devices: [...devicesOf('alice', 3), { id: 'bob-pi', operator: 'bob', maxInstances: 2 }],
    groups: [{ id: 'news', tier: 'high', smp: 10, xftp: 0 }],
    rule: 'capacity',
    says: [/at most 5 per operator and 5 per device; eligible devices hold 7/],
  },
  {
    name: 'no room left for XFTP',
    devices: [{ id: 'pi', operator: 'o', maxInstances: 10 }],
    groups: [{ id: 'fam', smp: 10, xftp: 1 }],
    rule: 'capacity',
    says: [/needs room for 1 XFTP instance/, /1 full \(maxInstances\)/],
  },
  {
    name: 'XFTP apart but every device holds the SMP',
    devices: [{ id: 'a-pi', operator: 'alice' }, { id: 'b-pi', operator: 'bob' }],
    groups: [{ id: 'news', tier: 'high', smp: 2, xftp: 1 }],
    rule: 'xftp-apart',
    says: [/XFTP must run on a device that holds none of the group's SMP/, /2 hold the group's SMP/],
  },
  {
    name: 'two groups that each fit alone',
    devices: [{ id: 'pi', operator: 'o' }],
    groups: [{ id: 'one', smp: 6, xftp: 0 }, { id: 'two', smp: 6, xftp: 0 }],
    rule: 'shared-capacity',
    says: [/group two \(standard\): fits on its own but not beside one: needs room for 6 SMP instances and 5 are left/],
  },
  {
    name: 'a shared group beside a dedicated one',
    devices: [{ id: 'pi', operator: 'o' }],
    groups: [{ id: 'ded', smp: 2, xftp: 0, dedicated: true }, { id: 'other', smp: 2, xftp: 0 }],
    rule: 'shared-capacity',
    says: [/group other \(standard\): fits on its own but not beside ded/, /1 dedicated to another group/],
  },
];

describe('explained infeasibility', () => {
  it.each(cases)('$name → $rule', ({ devices, groups, rule, says }) => {
    const result = plan(fleet(devices, groups), null);
    expect(result.feasible).toBe(false);
    expect(result.placement).toEqual([]);
    expect(result.metrics.unmet.map((u) => u.rule)).toContain(rule);
    const sentences = explain(result.metrics.unmet);
    const sentence = sentences[result.metrics.unmet.findIndex((u) => u.rule === rule)] ?? '';
    for (const pattern of says) expect(sentence).toMatch(pattern);
    expect(sentence).toMatch(/ — /); // every sentence ends in a remedy
  });

  it('reports every group that cannot be placed, not just the first', () => {
    const result = plan(fleet([{ id: 'pi', operator: 'o' }], [{ id: 'a', tier: 'high', smp: 4 }, { id: 'b', smp: 30 }]), null);
    expect(result.metrics.unmet.map((u) => `${u.group}:${u.rule}`).sort()).toEqual(['a:operators', 'b:capacity']);
  });

  it('counts revoked and dedicated devices Nomad-style', () => {
    const result = plan(
      fleet([{ id: 'r', operator: 'o', state: 'revoked' }, { id: 'd', operator: 'o', state: 'draining' }, { id: 'ok', operator: 'o', maxInstances: 1 }], [{ id: 'g', smp: 3, xftp: 0 }]),
      null,
    );
    expect(explain(result.metrics.unmet)[0]).toMatch(/devices filtered: 1 draining, 1 revoked\)/);
  });
});
