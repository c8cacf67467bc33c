import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { loadFleetSpec } from '../../spec/load.ts';

const Flags = z.object({ file: z.string().min(1), json: z.boolean().default(false) });

/** `onionfleet validate -f FILE [--json]`: exit 0 when valid; problems (exit 2) are thrown. Writes nothing. */
export async function validate(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const spec = await loadFleetSpec(flags.file);
  const counts = summarize(spec);
  if (flags.json) {
    ctx.output.out(toJson({ valid: true, file: flags.file, fleet: spec.fleet, counts }));
    return;
  }
  ctx.output.out(
    `${flags.file}: valid — fleet ${spec.fleet}: ${plural(counts.operators, 'operator')}, ${plural(counts.devices, 'device')} ` +
      `(${counts.activeDevices} active), ${plural(counts.groups, 'group')}, ${plural(counts.instances, 'instance')}, ${plural(counts.members, 'member')}`,
  );
}

export function summarize(spec: FleetSpec) {
  return {
    operators: spec.operators.length,
    devices: spec.devices.length,
    activeDevices: spec.devices.filter((d) => d.state === 'active').length,
    groups: spec.groups.length,
    instances: spec.groups.reduce((n, g) => n + g.smp + g.xftp, 0),
    members: spec.members.length,
  };
}
