/**
 * Every remedy fits the rule it follows (issue 12): a group whose tier needs one operator is never
 * told to add another operator or to lower its tier; fewer dedicated groups are suggested only where
 * dedication turned devices away. Checked on hand-made cases and on random fleets, against the tier
 * table written out here (not the planner's own tier-rules.ts).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { describeFiltered } from '../../../controller/planner/explain.ts';
import { noFilterCounts } from '../../../controller/planner/filters.ts';
import { explain, plan, type Unmet } from '../../../controller/planner/index.ts';
import { TIERS, type Tier } from '#shared/schema/fleet-spec.ts';
import { fleet, type DeviceInput, type GroupInput } from '../../builders/fleet.ts';
import { runs } from '../../support/runs.ts';

/** fleet-spec.md's tier table: what each tier asks of the spread. */
const SPREAD: Readonly<Record<Tier, { operators: number; locations: number; jurisdictions: number }>> = {
  standard: { operators: 1, locations: 1, jurisdictions: 1 },
  elevated: { operators: 1, locations: 1, jurisdictions: 1 },
  high: { operators: 2, locations: 2, jurisdictions: 1 },
  extreme: { operators: 3, locations: 3, jurisdictions: 3 },
};
/** A lower tier asks for less only below high (elevated has standard's rules). */
const LOWER_TIER_HELPS: ReadonlySet<Tier> = new Set(['high', 'extreme']);

/** What is wrong with `sentence` as the explanation of `u`; [] when it fits. */
function misfits(u: Unmet, sentence: string): string[] {
  const out: string[] = [];
  const [statement = '', remedy = ''] = sentence.split(' — ');
  const say = (what: string) => out.push(`${u.rule} (${u.tier}): ${what}: ${sentence}`);
  if (remedy === '' || !remedy.endsWith('.')) say('no remedy');
  const filtered = 'filtered' in u ? u.filtered : null;
  const spread = SPREAD[u.tier];
  const smpCapacity = u.rule === 'capacity' && u.kind === 'smp';

  if (/\b(another operator|operators)\b/.test(remedy)) {
    const spreadRule = u.rule === 'operators';
    const operatorCap = smpCapacity && u.maxPerOperator < u.needed;
    if (!spreadRule && !operatorCap) say('another operator cannot help this rule');
    if (spread.operators < 2 && !operatorCap) say('the tier needs one operator');
  }
  if (/lower the tier/.test(remedy) && !LOWER_TIER_HELPS.has(u.tier)) say('a lower tier asks for the same');
  if (/location/.test(remedy) && !((u.rule === 'locations' || u.rule === 'diversity') && spread.locations > 1)) say('another location cannot help');
  if (/jurisdiction/.test(remedy) && !((u.rule === 'jurisdictions' || u.rule === 'diversity') && spread.jurisdictions > 1)) say('another jurisdiction cannot help');
  if (/dedicated/.test(remedy) && (filtered === null || filtered['dedicated-to-other'] + filtered['shared-with-other-groups'] === 0)) say('no device was turned away by dedication');
  if (/draining/.test(remedy) && (filtered === null || filtered.draining === 0)) say('no device is draining');
  if (/\bsmp\b/.test(remedy) && !(u.rule === 'instances-for-tier' || (smpCapacity && u.available > 0))) say('changing smp cannot help');
  if (/\bxftp\b/.test(remedy) && !(u.rule === 'xftp-apart' || (u.rule === 'capacity' && u.kind === 'xftp'))) say('changing xftp cannot help');
  // The spread rules name a spread the tier asks for.
  if (u.rule === 'operators' && spread.operators < 2) say('the tier needs one operator');
  if (u.rule === 'locations' && spread.locations < 2) say('the tier needs one location');
  if (u.rule === 'jurisdictions' && spread.jurisdictions < 2) say('the tier needs one jurisdiction');
  if ((u.rule === 'diversity' || u.rule === 'xftp-apart' || u.rule === 'instances-for-tier') && !LOWER_TIER_HELPS.has(u.tier)) say('the tier asks for no spread');
  // One of a thing, several things.
  if (/\b1 (operators|locations|jurisdictions|SMP instances|XFTP instances|hold|host|devices)\b/.test(statement)) say('plural after 1');
  if (/\b(0|[2-9]|\d\d+) (holds|hosts)\b/.test(statement)) say('singular after several');
  return out;
}

const check = (devices: DeviceInput[], groups: GroupInput[]) => {
  const result = plan(fleet(devices, groups), null);
  const sentences = explain(result.metrics.unmet);
  return { result, sentences, misfits: result.metrics.unmet.flatMap((u, i) => misfits(u, sentences[i] ?? '')) };
};

interface Case {
  name: string;
  devices: DeviceInput[];
  groups: GroupInput[];
  says: string;
}

const cases: Case[] = [
  {
    name: 'a standard group on a full device',
    devices: [{ id: 'pi', operator: 'o', maxInstances: 0 }],
    groups: [{ id: 'fam', smp: 2, xftp: 0 }],
    says: 'group fam (standard): needs room for 2 SMP instances; no device can take one (devices filtered: 1 full (maxInstances)) — add devices, or raise capacity (maxInstances, memoryMb).',
  },
  {
    name: 'an elevated group whose only device drains',
    devices: [{ id: 'pi', operator: 'o', state: 'draining' }],
    groups: [{ id: 'fam', tier: 'elevated', smp: 2, xftp: 0 }],
    says: 'group fam (elevated): needs room for 2 SMP instances; no device can take one (devices filtered: 1 draining) — add devices, or return a draining device to active.',
  },
  {
    name: 'a standard group on a device without memory',
    devices: [{ id: 'pi', operator: 'o', memoryMb: 300 }],
    groups: [{ id: 'fam', smp: 2, xftp: 0 }],
    says: 'group fam (standard): needs room for 2 SMP instances; no device can take one (devices filtered: 1 out of memory) — add devices, or raise capacity (maxInstances, memoryMb).',
  },
  {
    name: 'a standard group larger than its devices',
    devices: [{ id: 'pi-1', operator: 'o', maxInstances: 3 }, { id: 'pi-2', operator: 'o', maxInstances: 2 }],
    groups: [{ id: 'fam', smp: 8, xftp: 0 }],
    says: 'group fam (standard): needs room for 8 SMP instances; eligible devices hold 5 — add devices, raise capacity (maxInstances, memoryMb), or lower smp.',
  },
  {
    name: 'a high group held back by its per-operator cap',
    devices: [{ id: 'a-1', operator: 'alice' }, { id: 'a-2', operator: 'alice' }, { id: 'b-1', operator: 'bob', maxInstances: 2 }],
    groups: [{ id: 'news', tier: 'high', smp: 10, xftp: 0 }],
    says: 'group news (high): needs room for 10 SMP instances with at most 5 per operator and 5 per device; eligible devices hold 7 — add devices or operators, raise capacity (maxInstances, memoryMb), lower smp, or lower the tier.',
  },
  {
    name: 'two shared groups that each fit alone',
    devices: [{ id: 'pi', operator: 'o' }],
    groups: [{ id: 'one', smp: 6, xftp: 0 }, { id: 'two', smp: 6, xftp: 0 }],
    says: "group two (standard): fits on its own but not beside one: needs room for 6 SMP instances and 5 are left within the tier's caps — add devices, or raise capacity (maxInstances, memoryMb).",
  },
  {
    name: 'a shared group beside a dedicated one',
    devices: [{ id: 'pi', operator: 'o' }],
    groups: [{ id: 'ded', smp: 2, xftp: 0, dedicated: true }, { id: 'other', smp: 2, xftp: 0 }],
    says: "group other (standard): fits on its own but not beside ded: needs room for 2 SMP instances and 0 are left within the tier's caps (devices filtered: 1 dedicated to another group) — add devices, raise capacity (maxInstances, memoryMb), or make fewer groups dedicated.",
  },
  {
    name: 'XFTP apart, one device holding the SMP',
    devices: [{ id: 'a-pi', operator: 'alice' }, { id: 'b-pi', operator: 'bob' }],
    groups: [{ id: 'news', tier: 'high', smp: 2, xftp: 1 }],
    says: "group news (high): XFTP must run on a device that holds none of the group's SMP, and no such device is eligible (devices filtered: 2 hold the group's SMP) — add a device (of any operator), or set xftp: 0.",
  },
];

describe('remedies fit their rule', () => {
  it.each(cases)('$name', ({ devices, groups, says }) => {
    const { result, sentences, misfits: wrong } = check(devices, groups);
    expect(result.feasible).toBe(false);
    expect(sentences).toContain(says);
    expect(wrong).toEqual([]);
  });

  it('counts one filtered device in the singular, several in the plural', () => {
    const one = { ...noFilterCounts(), 'shared-with-other-groups': 1, 'holds-group-smp': 1, full: 1 };
    expect(describeFiltered(one)).toBe(" (devices filtered: 1 already hosts other groups, 1 full (maxInstances), 1 holds the group's SMP)");
    const two = { ...noFilterCounts(), 'shared-with-other-groups': 2, 'holds-group-smp': 3 };
    expect(describeFiltered(two)).toBe(" (devices filtered: 2 already host other groups, 3 hold the group's SMP)");
  });

  const deviceArb = (operator: string, i: number) =>
    fc.record({
      location: fc.integer({ min: 0, max: 2 }),
      jurisdiction: fc.constantFrom('DE', 'NL', 'IS'),
      maxInstances: fc.constantFrom(0, 1, 2, 4, 11),
      memoryMb: fc.constantFrom(300, 400, 1024, 4096),
      state: fc.constantFrom('active', 'active', 'active', 'draining', 'revoked'),
    }).map((d): DeviceInput => ({ id: `${operator}-pi-${i}`, operator, ...d, location: `loc-${d.location}`, state: d.state }));
  const devicesArb = fc
    .array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 })
    .chain((counts) => fc.tuple(...counts.flatMap((count, o) => Array.from({ length: count }, (_, i) => deviceArb(`op${o}`, i)))));
  const groupsArb = fc
    .array(fc.record({ tier: fc.constantFrom(...TIERS), smp: fc.integer({ min: 1, max: 16 }), xftp: fc.integer({ min: 0, max: 2 }), dedicated: fc.boolean() }), { minLength: 1, maxLength: 3 })
    .map((gs) => gs.map((g, i): GroupInput => ({ id: `g${i}`, ...g })));

  test.prop([devicesArb, groupsArb], { numRuns: runs(400) })('on random fleets, every sentence of an infeasible plan', (devices, groups) => {
    const { result, misfits: wrong } = check(devices, groups);
    fc.pre(!result.feasible);
    expect(wrong).toEqual([]);
  });
});
