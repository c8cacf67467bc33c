import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { openSession } from '../../bus/session.ts';
import { readFleetStatus } from '../../status/view.ts';
import { exitCodeFor, judge, planProbes, targetsFromStatuses } from '../../probe/aggregate.ts';
import { loadPins, savePins } from '../../probe/pins-file.ts';
import { renderReport } from '../../probe/render.ts';
import { runProbes } from '../../probe/runner.ts';
import { chooseSocks } from '../../probe/socks.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  socks: z.string().optional(),
  group: Id.optional(),
  timeout: seconds(3600).default(60),
  json: z.boolean().default(false),
});

/**
 * `onionfleet probe [--socks HOST:PORT] [--group G] [--timeout S] [--json]`: connects to every
 * reported instance's onion through Tor and checks its identity against the fingerprint pinned
 * when the controller first saw it (state/pins.json). Exit 0 all ok · 1 degraded (no valid hello,
 * nothing reported yet, a device without a usable status) · 4 unreachable (also: `serve` not
 * running) · 1 alarm too (an identity other than the pin; fleet-spec.md fixes probe to 0 · 1 · 4, so
 * `--json` says `"verdict": "alarm"` and the text says ALARM) · 2 invalid flags or pins file.
 */
export async function probeCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const via = await chooseSocks(paths, flags.socks);
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  const pins = await loadPins(paths, session.secrets).catch(async (err: unknown) => { await session.close(); throw err; });
  // Read every status first, then let go of the bus: probes over Tor take a while.
  const views = await (async () => {
    try {
      return await readFleetStatus(session, await listDevices(paths));
    } finally {
      await session.close();
    }
  })();
  const { targets, devices } = targetsFromStatuses(views, flags.group ?? null);
  if (flags.group !== undefined && targets.length === 0 && devices.length === 0) {
    throw new InvalidInputError([{ source: '--group', message: `no device reports an instance of group "${flags.group}"` }]);
  }
  const plan = planProbes(targets, pins, new Date().toISOString());
  if (plan.pinned.length > 0) await savePins(paths, plan.pins);
  const outcomes = await runProbes(plan, { socks: via.socks, timeoutMs: flags.timeout * 1000 });
  const report = judge(plan, outcomes, devices);
  const address = `${via.socks.host}:${via.socks.port}`;
  ctx.output.out(flags.json
    ? toJson({ verdict: report.verdict, exitCode: exitCodeFor(report.verdict), socks: { address, source: via.source }, groups: report.groups, devices: report.devices, pinned: report.pinned })
    : renderReport(report, `${address} (${via.source})`));
  ctx.setExitCode(exitCodeFor(report.verdict));
}
