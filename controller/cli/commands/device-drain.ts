import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { publishEffective, waitFor } from '../../apply/rollout.ts';
import { completeHandOver } from '../../apply/hand-over.ts';
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
 * `onionfleet device drain ID -f FILE`: moves every instance off a device. Instances whose group
 * allows identity copies keep their addresses (docs/continuity.md); the others get new ones without a
 * gap. Phase 1 publishes the new placement to every other device while the draining one keeps running
 * (devices that take over an identity are held); once they report the new revision healthy, phase 2
 * tells the draining device to stop its instances (it seals a final backup of each, then archives
 * them, never deletes); phase 3, once it has stopped, gives the held devices the identities. The device stays enrolled and can take work again
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
      first = await publishEffective(paths, session, spec, { hold, handOver: true });
    } catch (err) {
      // Nothing was published (an infeasible plan, a concurrent apply): the device is not draining.
      await restoreDeviceStates(paths, before);
      throw err;
    }
    const keeping = first.handOver.length;
    progress(`[1/3] new placement published to ${plural(first.changed.length, 'device')}; ${plural(first.plan.diff.moved.length, 'instance')} move off ${flags.id} (${keeping} keep their addresses), which keeps running them for now`);
    const except = new Set([...hold, ...first.heldForHandOver]);
    const replaced = await waitFor(paths, session, first.revisions, deadline - Date.now(), progressLines(progress, (done, total) => `[2/3] replacements healthy on ${done}/${total} devices`), except);
    if (replaced.pending.length > 0) {
      const why = replaced.pending.map((p) => `  ${p.device}: ${p.reason}`);
      if (flags.json) ctx.output.out(toJson({ drained: false, device: flags.id, phase: 1, pending: replaced.pending }));
      else ctx.output.out([`replacements not healthy after ${flags.timeout}s; ${flags.id} keeps running its instances:`, ...why].join('\n'));
      ctx.setExitCode(EXIT.failed);
      return;
    }
    // Phase 2: the draining device stops; instances that keep their address start elsewhere only after that.
    const second = await publishEffective(paths, session, spec, { handOver: true });
    let last = second;
    let pending: readonly { device: string; reason: string }[];
    if (second.heldForHandOver.length > 0) {
      const outcome = await completeHandOver(paths, session, spec, second, deadline, (line) => { progress(`[3/3] ${line}`); });
      pending = outcome.pending;
      const third = outcome.second;
      if (third !== null) {
        last = third;
        const started = await waitFor(paths, session, new Map(second.heldForHandOver.map((d) => [d, third.revisions.get(d) ?? 0])),
          Math.max(1, deadline - Date.now()), progressLines(progress, (done, total) => `[3/3] instances running at their addresses on ${done}/${total} devices`));
        pending = started.pending;
      }
    } else {
      const stopped = await waitFor(paths, session, new Map([[flags.id, second.revisions.get(flags.id) ?? 0]]), Math.max(1, deadline - Date.now()), progressLines(progress, () => `[3/3] ${flags.id} stopping its instances`));
      pending = stopped.pending;
    }
    const done = pending.length === 0;
    const kept = first.handOver.map((h) => h.instance);
    if (flags.json) ctx.output.out(toJson({ drained: done, device: flags.id, moved: first.plan.diff.moved, keptAddresses: kept, revisions: Object.fromEntries(last.revisions), pending }));
    else if (done) ctx.output.out(`drained ${flags.id}: its instances run elsewhere${kept.length > 0 ? `; ${plural(kept.length, 'instance')} kept ${kept.length === 1 ? 'its address' : 'their addresses'}` : ''}${kept.length < first.plan.diff.moved.length ? ' (the others have new addresses: export the bundles again)' : ''}`);
    else ctx.output.out(`${flags.id} is draining but not done: ${pending.map((p) => `${p.device}: ${p.reason}`).join('; ')}`);
    if (!done) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
