/**
 * The file `onionfleet plan --json --out FILE` writes and `--previous FILE` reads: the object of
 * docs/reference/fleet-yaml.md. Later versions may add fields, so unknown top-level keys are accepted here.
 */
import { z } from 'zod';
import { Id } from './common.ts';

export const PlannedInstance = z.object({
  group: Id,
  kind: z.enum(['smp', 'xftp']),
  instance: z.string().regex(/^[a-z0-9][a-z0-9-]*-(?:smp|xftp)-\d{2,}$/, { error: 'expected an instance id such as newsroom-smp-01' }),
  device: Id,
  operator: Id,
  location: Id,
  jurisdiction: z.string(),
});

const IdList = z.array(z.string());

export const PlanFile = z.looseObject({
  /** The fleet planned (`plan --out` writes it); a plan without one is taken for any fleet. */
  fleet: z.string().optional(),
  feasible: z.boolean(),
  placements: z.array(PlannedInstance),
  diff: z.object({ added: IdList, moved: IdList, removed: IdList, kept: IdList }),
  explanations: z.array(z.string()),
});
export type PlanFile = z.infer<typeof PlanFile>;
