import { resolve } from 'node:path';
import { z } from 'zod';
import { seal } from '#shared/crypto/envelope.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { writeOutputFile } from '#shared/cli/output-file.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { loadAgentConfig } from '../../config.ts';
import { loadAgentSecrets } from '../../identity.ts';
import { readRecord } from '../../record.ts';
import { buildStatus } from '../../status/report.ts';
import { managersFor, RootFlags } from './shared.ts';
import { join } from 'node:path';

const Flags = z.object({ out: z.string().min(1), ...RootFlags });

/**
 * `onionfleet-agent status --sealed-out FILE` (offline fleets): the device's status as it would go on
 * the bus — signed by the device, age-encrypted to the controller — written to a file (0600) for the
 * operator to carry back; `onionfleet bundle export --statuses DIR` reads such files.
 */
export async function sealStatusCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const secrets = await loadAgentSecrets(join(config.root, config.keysDir));
  if (config.controller === undefined) throw new InvalidInputError([{ source: 'agent config', path: 'controller', message: 'needs the controller\'s ageRecipient to seal a status to it' }]);
  const record = await readRecord(config.root);
  const { services } = managersFor(config);
  const status = await buildStatus(config, secrets.device, services, { desiredRevision: record.revision, error: null, blocked: [], converged: record.refused === null });
  const sealed = await seal({ kind: 'status', device: secrets.device, revision: status.appliedRevision, body: status }, { signingSecretKey: secrets.signingSecretKey, recipient: config.controller.ageRecipient });
  await writeOutputFile(flags.out, sealed, 0o600);
  ctx.output.out(flags.json ? toJson({ device: secrets.device, out: flags.out, revision: status.appliedRevision }) : `wrote the sealed status of ${secrets.device} (revision ${status.appliedRevision}) to ${flags.out}: carry it back to the controller`);
}
