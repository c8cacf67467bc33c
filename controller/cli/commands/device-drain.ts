import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { publishEffective, waitFor } from '../../apply/rollout.ts';
import { progressLines } from '../../status/wait.ts';
import { openSession } from '../../bus/session.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { listDevices } from '../../state/devices.ts';
import { readDeviceStates, restoreDeviceStates, setDeviceState } from '../../state/device-states.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  id: Id,
  file: z.string().min(1),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  timeout: seconds().default(600),
  json: z.boolean().default(false),
});

/**
 * `onionfleet device drain ID -f FILE`: moves every instance off a device without a gap. Phase 1
 * publishes the new placement to every other device while the draining one keeps running; only once
 * all of them report the new revision healthy does phase 2 tell the draining device to stop its
 * instances (they are archived there, not deleted). The device stays enrolled and can take work again
 * when fleet.yaml and the device states allow. Exit 1 when phase 1 times out: nothing was stopped.
 */
export async function deviceDrain(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const spec = await loadFleetSpec(flags.file);
  if (!spec.devices.some((d) => d.id === flags.id)) throw new InvalidInputError([{ source: flags.file, path: 'devices', message: `no device "${flags.id}"` }]);
  if (!(await listDevices(paths)).some((d) => d.device === flags.id)) throw new InvalidInputError([{ source: paths.dir, path: 'devices', message: `"${flags.id}" is not enrolled` }]);
  const passphrase = await statePassphrase(paths, flags.passphraseFile);
  const progress = (line: string) => { if (!flags.json) ctx.output.err(line); };
  const deadline = Date.now() + flags.timeout * 1000;
  const hold = new Set([flags.id]);

  const session = await openSession(paths, passphrase, { create: true });
  try {
    const before = await readDeviceStates(paths);
    await setDeviceState(paths, flags.id, 'draining', new Date());
    let first: Awaited<ReturnType<typeof publishEffective>>;
    try {
      first = await publishEffective(paths, session, spec, { hold });
    } catch (err) {
      // Nothing was published (an infeasible plan, a concurrent apply): the device is not draining.
      await restoreDeviceStates(paths, before);
      throw err;
    }
    progress(`[1/3] new placement published to ${plural(first.changed.length, 'device')}; ${plural(first.plan.diff.moved.length, 'instance')} move off ${flags.id}, which keeps running them for now`);
    const replaced = await waitFor(paths, session, first.revisions, deadline - Date.now(), progressLines(progress, (done, total) => `[2/3] replacements healthy on ${done}/${total} devices`), hold);
    if (replaced.pending.length > 0) {
      const why = replaced.pending.map((p) => `  ${p.device}: ${p.reason}`);
      if (flags.json) ctx.output.out(toJson({ drained: false, device: flags.id, phase: 1, pending: replaced.pending }));
      else ctx.output.out([`replacements not healthy after ${flags.timeout}s; ${flags.id} keeps running its instances:`, ...why].join('\n'));
      ctx.setExitCode(EXIT.failed);
      return;
    }
    const second = await publishEffective(paths, session, spec);
    const stopped = await waitFor(paths, session, new Map([[flags.id, second.revisions.get(flags.id) ?? 0]]), Math.max(1, deadline - Date.now()), progressLines(progress, () => `[3/3] ${flags.id} stopping its instances`));
    const done = stopped.pending.length === 0;
    if (flags.json) ctx.output.out(toJson({ drained: done, device: flags.id, moved: first.plan.diff.moved, pending: stopped.pending }));
    else ctx.output.out(done ? `drained ${flags.id}: its instances run elsewhere (new addresses: export the bundles again)` : `replacements are healthy, but ${flags.id} has not confirmed stopping: ${stopped.pending.map((p) => p.reason).join('; ')}`);
    if (!done) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
