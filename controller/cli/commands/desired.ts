import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError, PlanRefusedError, InternalError } from '#shared/errors.ts';
import { writeOutputFile } from '#shared/cli/output-file.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { compileDesired } from '../../compile/index.ts';
import { explainPlan, plan } from '../../planner/index.ts';
import { loadSolver } from '../../solver/highs.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { loadPreviousPlan } from '../../spec/previous-plan.ts';

const Flags = z.object({
  file: z.string().min(1),
  device: z.string().min(1),
  previous: z.string().min(1).optional(),
  previousDesired: z.string().min(1).optional(),
  out: z.string().min(1),
  json: z.boolean().default(false),
});

/**
 * `onionfleet desired -f FILE --device ID [--previous PLAN.json] [--previous-desired FILE] --out FILE`:
 * plans, compiles and writes one device's desired state (unsealed, mode 0600: it holds passwords).
 */
export async function desiredCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const spec = await loadFleetSpec(flags.file);
  const device = spec.devices.find((d) => d.id === flags.device);
  if (device === undefined) {
    throw new InvalidInputError([{ source: '--device', message: `no device "${flags.device}" in ${flags.file} (have: ${spec.devices.map((d) => d.id).join(', ')})` }]);
  }
  if (device.state === 'revoked') throw new InvalidInputError([{ source: '--device', message: `device "${device.id}" is revoked: it gets no desired state` }]);
  const previousPlan = flags.previous === undefined ? null : await loadPreviousPlan(flags.previous, spec.fleet, flags.file);
  const previousDesired = flags.previousDesired === undefined ? null : await loadJson(flags.previousDesired, DesiredState, 'a desired state');
  if (previousDesired !== null && previousDesired.device !== device.id) {
    throw new InvalidInputError([{ source: flags.previousDesired ?? '', path: 'device', message: `is "${previousDesired.device}", not "${device.id}"` }]);
  }
  const result = plan(spec, previousPlan, { solver: await loadSolver() });
  if (!result.feasible) throw new PlanRefusedError(explainPlan(result), { hint: 'run `onionfleet plan` for the details' });
  const states = compileDesired({
    spec,
    placement: result.placement,
    previous: new Map(previousDesired === null ? [] : [[device.id, previousDesired]]),
    randomBytes: (n) => randomBytes(n),
  });
  const state = states.get(device.id);
  if (state === undefined) throw new InternalError(`no desired state compiled for ${device.id}`);
  await writeOutputFile(flags.out, toJson(state), 0o600);
  const smp = state.instances.filter((i) => i.kind === 'smp').length;
  const summary = { device: state.device, revision: state.revision, smp, xftp: state.instances.length - smp, out: flags.out };
  ctx.output.out(
    flags.json
      ? toJson(summary)
      : `wrote ${flags.out}: ${device.id} revision ${state.revision}, ${plural(smp, 'SMP instance')} and ${plural(summary.xftp, 'XFTP instance')} (mode 0600: it holds the servers' passwords)`,
  );
}
