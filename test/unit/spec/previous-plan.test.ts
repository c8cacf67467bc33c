/**
 * controller/spec/previous-plan.ts: `--previous PLAN.json` of another fleet is refused (issue 12),
 * naming the file and both fleets; a plan of this fleet, or one that names no fleet, is kept.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plan } from '../../../controller/planner/index.ts';
import { checkPlanFleet, loadPreviousPlan } from '../../../controller/spec/previous-plan.ts';
import { formatProblem, InvalidInputError } from '#shared/errors.ts';
import { fleet } from '../../builders/fleet.ts';

const spec = fleet([{ id: 'pi', operator: 'o' }], [{ id: 'fam', smp: 2, xftp: 1 }]);
const result = plan(spec, null);
/** What `plan --json --out` writes (planDocument in controller/cli/commands/plan.ts). */
const planFile = (fleetName: string | undefined) => ({
  feasible: result.feasible,
  placements: result.placement,
  diff: result.diff,
  explanations: [],
  ...(fleetName === undefined ? {} : { fleet: fleetName }),
  metrics: { mode: 'fresh' },
});
const write = (content: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), 'onionfleet-previous-')), 'plan.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
};
const lines = async (p: Promise<unknown>) => {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  return (err as InvalidInputError).problems.map(formatProblem);
};

describe('loadPreviousPlan', () => {
  it('keeps the placements of a plan of the same fleet', async () => {
    expect(spec.fleet).toBe('test-fleet');
    expect(await loadPreviousPlan(write(planFile('test-fleet')), 'test-fleet', 'fleet.yaml')).toEqual(result.placement);
  });

  it('refuses a plan of another fleet, naming the file and both fleets', async () => {
    const path = write(planFile('acme-press'));
    expect(await lines(loadPreviousPlan(path, 'test-fleet', 'fleet.yaml'))).toEqual([`${path}: fleet: a plan of fleet "acme-press", but fleet.yaml is fleet "test-fleet"`]);
  });

  it('takes a plan that names no fleet for any fleet', async () => {
    expect(await loadPreviousPlan(write(planFile(undefined)), 'test-fleet')).toEqual(result.placement);
  });

  it('still refuses what is not a plan, and reads at most its cap', async () => {
    const path = write({ feasible: true, placements: [{ group: 'x' }], diff: {}, explanations: [] });
    expect((await lines(loadPreviousPlan(path, 'test-fleet')))[0]).toMatch(new RegExp(`^${path}: placements\\[0\\]\\.kind: expected one of smp, xftp`));
    expect(await lines(loadPreviousPlan('/dev/zero', 'test-fleet'))).toEqual(['/dev/zero: file is larger than 16 MiB']);
  });
});

describe('checkPlanFleet', () => {
  it('is quiet for the same fleet or none, and throws for another', () => {
    expect(() => { checkPlanFleet({ fleet: 'a' }, 'p.json', 'a'); }).not.toThrow();
    expect(() => { checkPlanFleet({}, 'p.json', 'a'); }).not.toThrow();
    expect(() => { checkPlanFleet({ fleet: 'b' }, 'p.json', 'a'); }).toThrow('p.json: fleet: a plan of fleet "b", but the fleet.yaml is fleet "a"');
  });
});
