import { resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import { loadAgentConfig } from '../../config.ts';
import { releaseHeld } from '../../hold/markers.ts';
import { readRecord } from '../../record.ts';
import { reconcile } from '../../reconcile/loop.ts';
import { describeStep } from '../../reconcile/steps.ts';
import { loadDesired, managersFor, RootFlags } from './shared.ts';

const Flags = z.object({ desired: z.string().min(1), dryRun: z.boolean().default(false), ...RootFlags });

/**
 * `onionfleet-agent apply --desired FILE [--root DIR] [--config FILE] [--dry-run] [--json]`:
 * makes the device match the desired state. Exit 0 converged · 1 failed or blocked · 2 invalid
 * input · 3 refused (owner's limits, or older than the revision already applied).
 */
export async function applyCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const desired = await loadDesired(flags.desired, config);
  const applied = (await readRecord(config.root)).revision;
  if (desired.revision < applied) {
    report(ctx, flags.json, { converged: false, refused: [`revision ${desired.revision} is older than the applied revision ${applied}`], steps: [], blocked: [], rounds: 0 }, desired.revision);
    ctx.setExitCode(EXIT.refused);
    return;
  }
  // The device's operator applies a desired state by hand (an offline fleet's sealed file): their word
  // ends the boot hold (agent/hold/), as the controller's does.
  if (!flags.dryRun) {
    const released = await releaseHeld(config.root, 'all', 'operator');
    if (released.length > 0 && !flags.json) ctx.output.err(`released ${plural(released.length, 'instance')} held at boot: ${released.join(', ')}`);
  }
  const result = await reconcile(desired, {
    config,
    ...managersFor(config),
    onStep: flags.json || flags.dryRun ? undefined : (step, i) => {
      ctx.output.err(`[${i + 1}] ${describeStep(step)}`);
    },
  }, { dryRun: flags.dryRun });
  report(ctx, flags.json, result, desired.revision, flags.dryRun);
  if (result.refused !== null) ctx.setExitCode(EXIT.refused);
  else if (!flags.dryRun && !result.converged) ctx.setExitCode(EXIT.failed);
}

interface Outcome {
  converged: boolean;
  refused: string[] | null;
  steps: string[];
  blocked: string[];
  rounds: number;
}

function report(ctx: CliContext, json: boolean, r: Outcome, revision: number, dryRun = false): void {
  if (json) {
    ctx.output.out(toJson({ revision, dryRun, converged: r.converged, refused: r.refused, steps: r.steps, blocked: r.blocked, rounds: r.rounds }));
    return;
  }
  if (r.refused !== null) {
    ctx.output.out(`refused revision ${revision}; the device keeps running what it ran:\n${r.refused.map((x) => `  ✗ ${x}`).join('\n')}`);
    return;
  }
  const lines: string[] = [];
  if (dryRun) lines.push(r.steps.length === 0 ? `dry run: nothing to do (revision ${revision})` : `dry run: ${plural(r.steps.length, 'step')} would run:`, ...r.steps.map((s) => `  ${s}`));
  else lines.push(r.converged ? `converged on revision ${revision}: ${plural(r.steps.length, 'step')}` : `not converged on revision ${revision} after ${plural(r.steps.length, 'step')}`);
  lines.push(...r.blocked.map((b) => `  blocked: ${b}`));
  ctx.output.out(lines.join('\n'));
}
