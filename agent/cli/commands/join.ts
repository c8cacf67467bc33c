import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { parseJoinToken } from '#shared/schema/join-token.ts';
import { AgentConfig, DEFAULT_CONFIG_PATH, loadAgentConfig, resolveConfig } from '../../config.ts';
import { joinFleet } from '../../join.ts';
import { managersFor, RootFlags } from './shared.ts';

const Flags = z.object({
  device: Id,
  tokenFile: z.string().min(1).optional(),
  socks: z.string().regex(/^[0-9.]+:\d{1,5}$/, { error: 'expected HOST:PORT (tor\'s SocksPort)' }).optional(),
  ...RootFlags,
});

/**
 * `onionfleet-agent join [TOKEN] --device ID [--token-file F|-] [--config FILE] [--root DIR]
 * [--socks HOST:PORT] [--json]`: enrolls this device with a join token (agent/join.ts) and writes
 * the agent config — `--config`, else `<root>/etc/onionfleet/agent.json`. The device is then pending
 * until the admin approves it.
 */
export async function joinCommand(tokenArg: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const token = parseJoinToken(await tokenText(typeof tokenArg === 'string' ? tokenArg : undefined, flags.tokenFile));
  const root = flags.root === undefined ? undefined : resolve(flags.root);
  const configPath = flags.config ?? (root === undefined ? DEFAULT_CONFIG_PATH : join(root, DEFAULT_CONFIG_PATH));
  const overrides = root === undefined ? {} : { root };
  // A first join creates the config; an existing one is read (and kept, apart from what join sets).
  const config = existsSync(configPath) ? await loadAgentConfig(configPath, overrides) : resolveConfig(AgentConfig.parse(overrides));
  const result = await joinFleet({
    config, configPath, token, device: flags.device, system: managersFor(config).system,
    ...(flags.socks === undefined ? {} : { socks: flags.socks }),
    log: (line) => { ctx.output.err(line); },
  });
  const approve = `onionfleet device approve ${result.device}`;
  if (flags.json) {
    ctx.output.out(toJson({ device: result.device, state: 'pending', operator: result.operator, fingerprint: result.fingerprint, ageFingerprint: result.ageFingerprint, config: result.configPath, approve }));
    return;
  }
  ctx.output.err(`${result.keysCreated ? 'made the keys of' : 'kept the keys of'} ${result.device}; wrote ${result.configPath}`);
  ctx.output.out(`pending approval: ask the admin to run \`${approve}\`; signing key fingerprint ${result.fingerprint} (age recipient ${result.ageFingerprint})`);
  ctx.output.err(`then start the agent: onionfleet-agent run --config ${result.configPath}`);
}

/**
 * The token's text: the argument, or `--token-file` (a file, or `-` for stdin) — the file keeps the
 * token out of shell history and the process list. Exactly one of them. Throws InvalidInputError.
 */
async function tokenText(arg: string | undefined, file: string | undefined): Promise<string> {
  if ((arg === undefined) === (file === undefined)) {
    throw new InvalidInputError([{ source: 'join token', message: arg === undefined ? 'missing: pass --token-file FILE (or - for stdin), or the token itself' : 'given twice: pass either TOKEN or --token-file' }]);
  }
  if (arg !== undefined) return arg;
  const path = file ?? '-';
  try {
    return path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidInputError([{ source: path === '-' ? 'stdin' : path, message: 'cannot read the join token' }], { cause: err });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
