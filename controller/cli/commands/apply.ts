import { z } from 'zod';
import { seconds, wholeNumber } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { makeOutputDir } from '#shared/cli/output-file.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import { effectiveSpec } from '../../apply/rollout.ts';
import { offlineApply } from '../../apply/offline.ts';
import { openSession } from '../../bus/session.ts';
import { driveRollout, startRollout } from '../../rollout/drive.ts';
import { rolloutPrinter } from '../../rollout/progress.ts';
import { reportDrive } from '../../rollout/report.ts';
import { STRATEGIES } from '../../rollout/waves.ts';
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
  strategy: z.enum(STRATEGIES).default('rolling'),
  canary: wholeNumber(0, 10_000, 'devices').optional(),
  maxUnavailable: wholeNumber(1, 10_000, 'devices').optional(),
  soak: wholeNumber(0, 86_400, 'seconds').optional(),
});

/**
 * `onionfleet apply -f FILE [--wait] [--timeout S] [--strategy rolling|all-at-once] [--canary N]
 * [--max-unavailable N] [--soak S]` — plan, compile, seal, and roll the changed devices out in waves
 * that keep every group up (docs/rollouts.md). With --wait, each wave goes through its health gate
 * before the next; without, the first wave is published and `rollout resume` takes it on.
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
  const printer = rolloutPrinter(ctx.output, flags.json);
  try {
    const deadline = Date.now() + flags.timeout * 1000;
    const options = { strategy: flags.strategy, canary: flags.canary ?? null, maxUnavailable: flags.maxUnavailable ?? null, soakSeconds: flags.soak ?? null };
    const started = await startRollout({ paths, session, emit: printer.emit }, spec, options);
    const diff = started.diff;
    const summary = { fleet: spec.fleet, changed: started.state?.waves.flatMap((w) => w.devices).sort() ?? [], diff };
    if (started.state === null) {
      if (!flags.json) ctx.output.err(`published 0 desired states (no change); diff +${diff.added.length} ~${diff.moved.length} -${diff.removed.length} =${diff.kept.length}`);
      if (!flags.wait) {
        ctx.output.out(flags.json ? toJson({ ...summary, revisions: Object.fromEntries(started.revisions) }) : 'applied');
        return;
      }
      const waited = await waitForConvergence(session, await listDevices(paths), started.revisions, flags.timeout * 1000, flags.json ? undefined : progressLines((line) => { ctx.output.err(line); }, (done, total) => `converged ${done}/${total} devices`));
      if (flags.json) ctx.output.out(toJson({ ...summary, revisions: Object.fromEntries(started.revisions), converged: waited.pending.length === 0, pending: waited.pending }));
      else if (waited.pending.length === 0) ctx.output.out(`converged: ${plural(started.revisions.size, 'device')} on their new revisions, every instance healthy`);
      else ctx.output.out([`timed out after ${flags.timeout}s; not converged:`, ...waited.pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
      if (waited.pending.length > 0) ctx.setExitCode(EXIT.failed);
      return;
    }
    if (!flags.json) ctx.output.err(`diff +${diff.added.length} ~${diff.moved.length} -${diff.removed.length} =${diff.kept.length}; ${plural(summary.changed.length, 'device')} to change`);
    const driven = await driveRollout({ paths, session, emit: printer.emit }, started.state, { watch: flags.wait, deadline });
    const revisions = Object.fromEntries([...started.revisions, ...driven.state.waves.flatMap((w) => Object.entries(w.revisions))]);
    ctx.setExitCode(reportDrive(ctx.output, flags.json, driven, flags.timeout, { ...summary, revisions }));
  } finally {
    printer.close();
    await session.close();
  }
}
