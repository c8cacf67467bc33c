/**
 * The demo's fleet: four simulated Pis of three operators in three countries, a `high` group spread
 * over all three operators and a `standard` group on one Pi. Pure: the text is a function of the
 * members' recipients, which the demo generates.
 *
 * Why these sizes: `high` makes its devices dedicated and wants SMP on ≥ 2 operators and locations
 * with none above half, and XFTP on a device without the group's SMP — 2 SMP + 1 XFTP use three Pis
 * of three operators; the standard group fits on the fourth. Six instances keep the demo quick.
 */

/** One simulated Pi. */
export interface DemoDevice {
  readonly id: string;
  readonly operator: string;
  readonly location: string;
  readonly jurisdiction: string;
}

/** The demo's devices, in enrollment order. */
export const DEMO_DEVICES: readonly DemoDevice[] = [
  { id: 'pi-1', operator: 'alice', location: 'berlin-office', jurisdiction: 'DE' },
  { id: 'pi-2', operator: 'bob', location: 'amsterdam-flat', jurisdiction: 'NL' },
  { id: 'pi-3', operator: 'carol', location: 'vienna-studio', jurisdiction: 'AT' },
  { id: 'pi-4', operator: 'alice', location: 'berlin-home', jurisdiction: 'DE' },
];

/** The demo's groups and their members. */
export const DEMO_GROUPS = [
  { id: 'newsroom', tier: 'high', smp: 2, xftp: 1, members: ['ana', 'ben'] },
  { id: 'family', tier: 'standard', smp: 2, xftp: 1, members: ['maria'] },
] as const;

/** Every member of every group, each in one group (their bundles share one directory). */
export const DEMO_MEMBERS: readonly string[] = DEMO_GROUPS.flatMap((g) => g.members);

/** The member whose bundle the demo opens. */
export const DEMO_READER = 'ana';

/** The demo fleet's name unless `onionfleet demo --fleet` gives another. */
export const DEMO_FLEET = 'demo';

/**
 * The fleet.yaml text, for the fleet named `fleet`. `recipients` maps each of {@link DEMO_MEMBERS}
 * to its age recipient. Throws Error when one is missing (a bug of the caller, not user input).
 */
export function demoFleetYaml(recipients: ReadonlyMap<string, string>, fleet: string = DEMO_FLEET): string {
  const recipient = (m: string): string => {
    const r = recipients.get(m);
    if (r === undefined) throw new Error(`no recipient for demo member ${m}`);
    return r;
  };
  const operators = [...new Set(DEMO_DEVICES.map((d) => d.operator))];
  return [
    '# The onionfleet demo: four simulated Raspberry Pis of three operators in three countries.',
    '# newsroom (high): SMP on two operators, XFTP on a third device, no operator above half, dedicated devices.',
    '# family (standard): everything on one Pi.',
    'version: 1',
    `fleet: ${fleet}`,
    'operators:',
    ...operators.map((o) => `  - { id: ${o}, name: ${o[0]?.toUpperCase() ?? ''}${o.slice(1)} (demo) }`),
    'devices:',
    ...DEMO_DEVICES.map((d) => `  - { id: ${d.id}, operator: ${d.operator}, location: ${d.location}, jurisdiction: ${d.jurisdiction}, capacity: { maxInstances: 4 } }`),
    'groups:',
    ...DEMO_GROUPS.map((g) => `  - { id: ${g.id}, tier: ${g.tier}, smp: ${g.smp}, xftp: ${g.xftp}, members: [${g.members.join(', ')}] }`),
    'members:',
    ...DEMO_MEMBERS.map((m) => `  - { id: ${m}, recipient: ${recipient(m)} }`),
    '',
  ].join('\n');
}
