/**
 * The earlier plan that `plan --previous` and `desired --previous` keep instances from: read with a
 * cap, checked as a plan file, and refused when it is another fleet's (keeping another fleet's
 * placement would silently re-plan everything, or keep instances that are not this fleet's).
 */
import { InvalidInputError } from '#shared/errors.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { PlanFile } from '#shared/schema/plan-file.ts';
import type { PreviousPlacement } from '../planner/index.ts';

/**
 * The placements of the plan at `path`, written by `plan --json --out` for the fleet named `fleet`
 * (the `fleet:` of the fleet.yaml at `specSource`). Throws {@link InvalidInputError} (exit 2) when
 * the file is missing, too large, not a plan, or a plan of another fleet.
 */
export async function loadPreviousPlan(path: string, fleet: string, specSource = 'the fleet.yaml'): Promise<PreviousPlacement[]> {
  const file = await loadJson(path, PlanFile, 'a JSON plan written by `plan --json --out`');
  checkPlanFleet(file, path, fleet, specSource);
  return file.placements;
}

/** Pure: throws {@link InvalidInputError} (exit 2) when the plan `file` (read from `source`) names a fleet other than `fleet`. */
export function checkPlanFleet(file: Pick<PlanFile, 'fleet'>, source: string, fleet: string, specSource = 'the fleet.yaml'): void {
  if (file.fleet === undefined || file.fleet === fleet) return;
  throw new InvalidInputError([{ source, path: 'fleet', message: `a plan of fleet "${file.fleet}", but ${specSource} is fleet "${fleet}"` }], {
    hint: 'pass a plan of this fleet, or leave out --previous to plan afresh',
  });
}
