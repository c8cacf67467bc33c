import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { makeOutputDir } from '#shared/cli/output-file.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import { effectiveSpec, publishEffective } from '../../apply/rollout.ts';
import { offlineApply } from '../../apply/offline.ts';
import { completeHandOver } from '../../apply/hand-over.ts';
import { openSession } from '../../bus/session.ts';
import { progressLines, waitForConvergence } from '../../status/wait.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  file: z.string().min(1),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  wait: z.boolean().default(false),
  timeout: seconds().default(300),
  offline: z.boolean().default(false),
  out: z.string().optional(),
  json: z.boolean().default(false),
});

/**
 * `onionfleet apply -f FILE [--wait] [--timeout S]` — plan, compile, seal, publish; with --wait,
 * until every device reports the new revision healthy (exit 1 on timeout, naming each device and why).
 * `--offline --out DIR` writes the sealed desired states as files instead (the extreme tier's path).
 */
export async function applyCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const spec = await loadFleetSpec(flags.file);
  const passphrase = await statePassphrase(paths, flags.passphraseFile);
  if (flags.offline) {
    const out = flags.out ?? 'desired';
    await makeOutputDir(out); // before the controller's own records move on
    const written = await offlineApply(paths, passphrase, await effectiveSpec(paths, spec), out);
    ctx.output.out(flags.json ? toJson({ offline: true, out, files: written }) : `wrote ${plural(written.length, 'sealed desired state')} to ${out}/ — carry each to its device and run \`onionfleet-agent apply --desired FILE\``);
    return;
  }
  const session = await openSession(paths, passphrase, { create: true });
  try {
    // Instances that move with their identity: the device they leave stops them first (docs/continuity.md).
    let result = await publishEffective(paths, session, spec, { handOver: true });
    if (result.heldForHandOver.length > 0) {
      const outcome = await completeHandOver(paths, session, spec, result, Date.now() + flags.timeout * 1000, (line) => { if (!flags.json) ctx.output.err(line); });
      if (outcome.second === null) {
        if (flags.json) ctx.output.out(toJson({ fleet: spec.fleet, handOver: 'incomplete', pending: outcome.pending }));
        else ctx.output.out([`the devices that instances leave did not stop them within ${flags.timeout}s; the new devices wait (apply again to finish):`, ...outcome.pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
        ctx.setExitCode(EXIT.failed);
        return;
      }
      result = outcome.second;
    }
    const summary = { fleet: spec.fleet, changed: result.changed, revisions: Object.fromEntries(result.revisions), diff: result.plan.diff };
    if (!flags.json) ctx.output.err(`published ${plural(result.changed.length, 'desired state')} (${result.changed.join(', ') || 'no change'}); diff +${result.plan.diff.added.length} ~${result.plan.diff.moved.length} -${result.plan.diff.removed.length} =${result.plan.diff.kept.length}`);
    if (!flags.wait) {
      ctx.output.out(flags.json ? toJson(summary) : 'applied');
      return;
    }
    const waited = await waitForConvergence(session, await listDevices(paths), result.revisions, flags.timeout * 1000, flags.json ? undefined : progressLines((line) => { ctx.output.err(line); }, (done, total) => `converged ${done}/${total} devices`));
    if (flags.json) ctx.output.out(toJson({ ...summary, converged: waited.pending.length === 0, pending: waited.pending }));
    else if (waited.pending.length === 0) ctx.output.out(`converged: ${plural(result.revisions.size, 'device')} on their new revisions, every instance healthy`);
    else ctx.output.out([`timed out after ${flags.timeout}s; not converged:`, ...waited.pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
    if (waited.pending.length > 0) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
