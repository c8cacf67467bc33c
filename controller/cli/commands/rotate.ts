import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { durationSchema } from '#shared/schema/duration.ts';
import { appliedPlacement } from '../../apply/publish.ts';
import { publishEffective, waitFor } from '../../apply/rollout.ts';
import { kvStore } from '../../apply/store.ts';
import { openSession } from '../../bus/session.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { readRotations, writeRotations } from '../../state/rotations.ts';
import { readFleetStatus } from '../../status/view.ts';
import { progressLines } from '../../status/wait.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  instance: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}-(?:smp|xftp)-\d{2,}$/, { error: 'expected an instance id such as newsroom-smp-01' }),
  file: z.string().min(1),
  retireAfter: durationSchema('1m', '90d'),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  wait: z.boolean().default(false),
  timeout: seconds().default(300),
  json: z.boolean().default(false),
});

/**
 * `onionfleet rotate INSTANCE -f FILE --retire-after DURATION [--wait]`: gives an instance a new
 * address (new onion, fingerprint and password, made on its device) while the old one keeps running
 * there as **retiring** until the date — the date the next bundle lists it to retire on. The planner
 * counts the retiring instance's room until then. Export the bundles again afterwards.
 */
export async function rotateCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const spec = await loadFleetSpec(flags.file);
  const passphrase = await statePassphrase(paths, flags.passphraseFile);
  const session = await openSession(paths, passphrase, { create: true });
  try {
    const placed = (await appliedPlacement({ own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets }))?.placements.find((p) => p.instance === flags.instance);
    if (placed === undefined) throw new InvalidInputError([{ source: 'INSTANCE', message: `"${flags.instance}" is not deployed` }], { hint: 'see `onionfleet plan -f FILE --deployed`' });
    const records = (await listDevices(paths)).filter((d) => d.device === placed.device);
    const running = (await readFleetStatus(session, records))[0]?.status?.instances.find((i) => i.id === flags.instance);
    if (running?.fingerprint == null || running.address == null) {
      throw new InvalidInputError([{ source: 'INSTANCE', message: `${placed.device} does not report "${flags.instance}" with its address yet` }], { hint: 'wait until `onionfleet status` shows it healthy' });
    }
    const rotations = await readRotations(paths, session.secrets);
    const now = new Date();
    const current = rotations[flags.instance];
    if (current !== undefined && (!current.published || Date.parse(current.until) > now.getTime())) {
      throw new InvalidInputError([{ source: 'INSTANCE', message: `"${flags.instance}" is already rotating (its old address retires ${current.until})` }]);
    }
    const until = new Date(now.getTime() + flags.retireAfter).toISOString();
    await writeRotations(paths, { ...rotations, [flags.instance]: { device: placed.device, fingerprint: running.fingerprint, address: running.address, until, published: false } });
    const result = await publishEffective(paths, session, spec);
    const summary = { instance: flags.instance, device: placed.device, retiresAt: until, changed: result.changed };
    if (!flags.wait) {
      ctx.output.out(flags.json ? toJson(summary) : `rotated ${flags.instance}: its new address is made on ${placed.device}; the old one keeps answering until ${until} — export the bundles again`);
      return;
    }
    const waited = await waitFor(paths, session, new Map([[placed.device, result.revisions.get(placed.device) ?? 0]]), flags.timeout * 1000,
      flags.json ? undefined : progressLines((line) => { ctx.output.err(line); }, (done, total) => `converged ${done}/${total} devices`));
    if (flags.json) ctx.output.out(toJson({ ...summary, converged: waited.pending.length === 0, pending: waited.pending }));
    else ctx.output.out(waited.pending.length === 0 ? `rotated ${flags.instance}; the old address answers until ${until} — export the bundles again` : `rotated ${flags.instance}, but ${placed.device} has not converged: ${waited.pending.map((p) => p.reason).join('; ')}`);
    if (waited.pending.length > 0) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
