import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onionfleet } from '../../support/cli.ts';

const EXAMPLES = new URL('../../../deploy/examples/', import.meta.url).pathname;
const newsroom = join(EXAMPLES, 'newsroom.yaml');
const tmp = () => mkdtempSync(join(tmpdir(), 'onionfleet-plan-'));

interface PlanJson {
  feasible: boolean;
  placements: { group: string; kind: string; instance: string; device: string; operator: string; location: string; jurisdiction: string }[];
  diff: { added: string[]; moved: string[]; removed: string[]; kept: string[] };
  explanations: string[];
}

describe('onionfleet plan', () => {
  it('prints the plan object of docs/reference/fleet-yaml.md with --json', async () => {
    const run = await onionfleet('plan', '-f', newsroom, '--json');
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as PlanJson;
    expect(plan.feasible).toBe(true);
    expect(plan.placements).toHaveLength(11);
    expect(Object.keys(plan.placements[0] ?? {})).toEqual(['group', 'kind', 'instance', 'device', 'operator', 'location', 'jurisdiction']);
    expect(plan.placements[0]).toMatchObject({ group: 'newsroom', kind: 'smp', instance: 'newsroom-smp-01' });
    expect(plan.diff.added).toHaveLength(11);
    expect(plan.explanations).toEqual([]);
  });

  it('counts in words that agree with the number: 1 device, 11 instances', async () => {
    const run = await onionfleet('plan', '-f', join(EXAMPLES, 'family.yaml'));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/feasible — \d+ instances on 1 device \(/);
    expect(run.stdout).toMatch(/: 1 device, SMP over 1 operator, 1 location, 1 jurisdiction/);
    expect(run.stdout).not.toMatch(/\b1 (devices|operators|locations|jurisdictions)\b/);
  });

  it('refuses a --previous plan of another fleet (exit 2, naming both fleets)', async () => {
    const out = join(tmp(), 'newsroom-plan.json');
    expect((await onionfleet('plan', '-f', newsroom, '--out', out)).code).toBe(0);
    const family = join(EXAMPLES, 'family.yaml');
    const run = await onionfleet('plan', '-f', family, '--previous', out);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(new RegExp(`^${out}: fleet: a plan of fleet "[a-z0-9-]+", but ${family} is fleet "[a-z0-9-]+"`));
  });

  it('is byte-for-byte deterministic', async () => {
    const a = await onionfleet('plan', '-f', join(EXAMPLES, 'network.yaml'), '--json');
    const b = await onionfleet('plan', '-f', join(EXAMPLES, 'network.yaml'), '--json');
    expect(b.stdout).toBe(a.stdout);
  });

  it('writes --out and keeps every instance when given it back as --previous', async () => {
    const out = join(tmp(), 'plan.json');
    const first = await onionfleet('plan', '-f', newsroom, '--out', out);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/newsroom \(high, dedicated\)/);
    expect(first.stdout).toMatch(/diff: \+11 added {2}~0 moved {2}-0 removed {2}=0 kept/);
    const second = await onionfleet('plan', '-f', newsroom, '--previous', out, '--json');
    const plan = JSON.parse(second.stdout) as PlanJson;
    expect(plan.diff.kept).toHaveLength(11);
    expect(plan.placements).toEqual((JSON.parse(readFileSync(out, 'utf8')) as PlanJson).placements);
  });

  it('shows moves when a device drains, and lists them', async () => {
    const dir = tmp();
    const out = join(dir, 'plan.json');
    await onionfleet('plan', '-f', newsroom, '--out', out);
    const first = JSON.parse(readFileSync(out, 'utf8')) as PlanJson;
    const victim = first.placements.find((p) => p.kind === 'smp')?.device ?? '';
    const drained = join(dir, 'fleet.yaml');
    writeFileSync(drained, readFileSync(newsroom, 'utf8').replace(`  - id: ${victim}\n`, `  - id: ${victim}\n    state: draining\n`));
    const run = await onionfleet('plan', '-f', drained, '--previous', out);
    expect(run.code).toBe(0);
    const moved = first.placements.filter((p) => p.device === victim).map((p) => p.instance);
    expect(moved.length).toBeGreaterThan(0);
    for (const id of moved) expect(run.stdout).toContain(`~ ${id} (new onion address`);
  });

  it('exits 3 and explains an infeasible fleet; --json has feasible false and no placements', async () => {
    const dir = tmp();
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(fleet, readFileSync(newsroom, 'utf8').replace('tier: high', 'tier: extreme'));
    const human = await onionfleet('plan', '-f', fleet);
    expect(human.code).toBe(3);
    expect(human.stdout).toMatch(/infeasible — nothing would be published/);
    // 10 SMP at most 3 per device need all four devices, leaving none for XFTP.
    expect(human.stdout).toContain("✗ group newsroom (extreme): XFTP must run on a device that holds none of the group's SMP");
    expect(human.stdout).toContain('(devices filtered: 4 hold the group\'s SMP) — add a device');
    const json = await onionfleet('plan', '-f', fleet, '--json');
    expect(json.code).toBe(3);
    const plan = JSON.parse(json.stdout) as PlanJson;
    expect(plan).toMatchObject({ feasible: false, placements: [] });
    expect(plan.explanations.length).toBeGreaterThan(0);
  });

  it('exits 2 naming the file when --previous is not a plan', async () => {
    const dir = tmp();
    const bad = join(dir, 'old.json');
    writeFileSync(bad, JSON.stringify({ feasible: true, placements: [{ group: 'x' }], diff: {}, explanations: [] }));
    const run = await onionfleet('plan', '-f', newsroom, '--previous', bad);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^${bad}: placements\\[0\\]\\.kind: expected one of smp, xftp`, 'm'));
  });
});
