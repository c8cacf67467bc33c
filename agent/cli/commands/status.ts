import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { loadAgentConfig } from '../../config.ts';
import { instanceHealth } from '../../status/instance-health.ts';
import { readRecord } from '../../record.ts';
import { DESIRED_COPY } from '../../reconcile/loop.ts';
import { managersFor, RootFlags } from './shared.ts';

const Flags = z.object({ probe: z.boolean().default(true), ...RootFlags });

/**
 * `onionfleet-agent status [--root DIR] [--json] [--no-probe]`: the applied revision and, per
 * instance, service, onion, fingerprint, address and identity probe. Exit 0 all healthy, 1 otherwise.
 */
export async function statusCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const record = await readRecord(config.root);
  const desired = await loadJson(join(config.root, DESIRED_COPY), DesiredState, 'a desired state').catch(() => null);
  const { services } = managersFor(config);
  const instances = [];
  for (const i of desired?.instances ?? []) instances.push(await instanceHealth(config.root, i, services, { probe: flags.probe }));
  const healthy = instances.filter((i) => i.healthy).length;
  const converged = desired !== null && record.revision === desired.revision;
  if (flags.json) {
    ctx.output.out(toJson({ device: desired?.device ?? null, desiredRevision: desired?.revision ?? null, appliedRevision: record.revision, refused: record.refused, healthy, total: instances.length, instances }));
  } else if (desired === null) {
    ctx.output.out('nothing applied yet (no desired state on this device)');
  } else {
    const lines = [
      `${desired.device}: revision ${record.revision} applied${converged ? '' : `, ${desired.revision} desired`} — ${healthy}/${instances.length} instances healthy`,
      ...(record.refused ? [`  refused revision ${record.refused.revision}: ${record.refused.reasons.join('; ')}`] : []),
      table([
        ['instance', 'service', 'identity', 'probe', 'onion'],
        ...instances.map((i) => [
          i.id,
          i.service,
          i.fingerprintMatchesCa ? 'ok' : 'MISMATCH',
          i.probe === null ? '-' : i.probe.identityOk && i.probe.helloOk ? `ok ${i.probe.latencyMs ?? '?'}ms` : `FAIL ${i.probe.error ?? 'wrong identity'}`,
          i.onion ?? '-',
        ]),
      ]),
    ];
    ctx.output.out(lines.join('\n'));
  }
  if (desired !== null && healthy < instances.length) ctx.setExitCode(EXIT.failed);
}
