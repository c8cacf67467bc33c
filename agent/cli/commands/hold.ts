import { resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { loadAgentConfig } from '../../config.ts';
import { holdAtBoot } from '../../hold/markers.ts';
import { RootFlags } from './shared.ts';

const Flags = z.object({ ...RootFlags });

/**
 * `onionfleet-agent hold [--config FILE] [--root DIR] [--json]`: the boot hold (root, before tor:
 * deploy/onionfleet-hold.service). From the last applied desired state it holds back every instance
 * whose group allows identity copies — their onion services out of tor's fragment, their units kept
 * from starting — until the controller confirms them (docs/continuity.md, "A device that comes
 * back"). Nothing to hold on a fresh install; a second run in the same boot changes nothing.
 */
export async function holdCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const result = await holdAtBoot(config.root);
  if (flags.json) {
    ctx.output.out(toJson(result));
    return;
  }
  const ids = result.held.map((h) => h.id).join(', ');
  const limits = result.held.map((h) => `${h.id} ${h.holdAtBootSeconds === null ? 'until the controller confirms it' : `at most ${h.holdAtBootSeconds} s of uptime`}`);
  if (result.already) ctx.output.out(`already held at this boot: ${result.held.length === 0 ? 'nothing (any longer)' : ids}`);
  else if (result.held.length === 0) ctx.output.out('nothing to hold (no instance whose group allows identity copies)');
  else ctx.output.out(`held ${result.held.length} instance(s) until the controller confirms them: ${limits.join('; ')}${result.fragmentChanged ? '' : ' (tor\'s fragment had none of their onions)'}`);
}
