import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { Id } from '#shared/schema/common.ts';
import { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { registerDevice } from '../../enroll/register.ts';
import { enrollOverSsh } from '../../enroll/ssh-enroll.ts';
import { resolveSshOptions } from '../../enroll/ssh-options.ts';
import { terminalConfirm } from '../../enroll/ssh-prompt.ts';
import { loadIdentity } from '../../state/identity.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const AddFlags = z.object({
  id: Id,
  record: z.string().min(1).optional(),
  ssh: z.string().min(1).optional(),
  operator: Id.optional(),
  socks: z.string().min(1).optional(),
  identity: z.string().min(1).optional(),
  hostKey: z.string().min(1).optional(),
  natsUrl: z.string().regex(/^nats:\/\/[a-z0-9.-]+:\d{1,5}$/, { error: 'expected nats://HOST:PORT' }).optional(),
  agentBundle: z.string().min(1).optional(),
  remoteRoot: z.string().min(1).optional(),
  state: z.string().optional(),
  json: z.boolean().default(false),
});
type AddFlags = z.infer<typeof AddFlags>;

/** The flags that only mean something with --ssh. */
const SSH_ONLY = ['socks', 'identity', 'hostKey', 'natsUrl', 'agentBundle', 'remoteRoot'] as const;

/**
 * `onionfleet device add --id ID (--record FILE | --ssh USER@HOST[:PORT] --operator OP …)`: registers
 * a device's public keys and its NATS user — from a record made on the device, or by enrolling it over
 * SSH (controller/enroll/ssh-enroll.ts). Exactly one of --record and --ssh; exit 2 otherwise.
 */
export async function deviceAdd(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(AddFlags, opts);
  if ((flags.record === undefined) === (flags.ssh === undefined)) {
    throw new InvalidInputError([{ source: '--record, --ssh', message: 'give exactly one: --record FILE (a record made on the device) or --ssh USER@HOST (enroll it over SSH)' }]);
  }
  if (flags.ssh !== undefined) {
    await addOverSsh({ ...flags, ssh: flags.ssh }, ctx);
    return;
  }
  const misplaced = SSH_ONLY.filter((k) => flags[k] !== undefined);
  if (misplaced.length > 0) throw new InvalidInputError(misplaced.map((k) => ({ source: `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, message: 'only with --ssh' })));
  await addFromRecord({ ...flags, record: flags.record ?? '' }, ctx);
}

async function addFromRecord(flags: AddFlags & { record: string }, ctx: CliContext): Promise<void> {
  const paths = statePaths(stateDir(flags.state));
  await loadIdentity(paths);
  const record = await loadJson(flags.record, EnrollmentRecord, 'an enrollment record (onionfleet-agent init)');
  if (record.device !== flags.id) throw new InvalidInputError([{ source: flags.record, path: 'device', message: `is "${record.device}", not --id "${flags.id}"` }]);
  const { natsReloaded: reloaded } = await registerDevice(paths, record, flags.record);
  ctx.output.out(
    flags.json
      ? toJson({ added: record.device, ...(flags.operator === undefined ? {} : { operator: flags.operator }), fingerprint: keyFingerprint(record.signingKey), natsReloaded: reloaded })
      : `registered ${record.device}${flags.operator === undefined ? '' : ` (operator ${flags.operator})`} (signing key ${keyFingerprint(record.signingKey)})${natsNote(reloaded)}`,
  );
}

async function addOverSsh(flags: AddFlags & { ssh: string }, ctx: CliContext): Promise<void> {
  const paths = statePaths(stateDir(flags.state));
  const options = await resolveSshOptions(flags, paths, terminalConfirm());
  const result = await enrollOverSsh({ ...options, progress: (line) => { ctx.output.err(line); } });
  const fingerprint = keyFingerprint(result.record.signingKey);
  const agent = result.agent.manager === 'systemd' ? 'systemd runs the agent' : `the agent runs as pid ${result.agent.pid}`;
  ctx.output.out(
    flags.json
      ? toJson({ added: result.record.device, operator: flags.operator, via: 'ssh', fingerprint, hostKey: result.hostKey, natsReloaded: result.natsReloaded, remoteRoot: options.remoteRoot, agent: result.agent })
      : `enrolled ${result.record.device} (operator ${flags.operator ?? ''}) over SSH: signing key ${fingerprint}, host key ${result.hostKey}; ${agent}${natsNote(result.natsReloaded)}`,
  );
}

function natsNote(reloaded: boolean): string {
  return reloaded ? '; NATS reloaded' : '; NATS picks it up when `onionfleet serve` starts';
}
