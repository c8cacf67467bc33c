/**
 * From the flags of `device add --ssh` to the options of {@link enrollOverSsh}: every check that needs
 * no connection happens here, before anything is changed (exit 2, one problem per line).
 */
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { InvalidInputError, type Problem } from '#shared/errors.ts';
import { packageFile } from '#shared/os/package-root.ts';
import { loadIdentity } from '../state/identity.ts';
import { ensureNatsOnion } from '../state/nats-onion.ts';
import type { StatePaths } from '../state/paths.ts';
import { APPLIER_UNITS, type SshEnrollOptions } from './ssh-enroll.ts';
import { loadPrivateKey, type ConfirmHostKey } from './ssh-session.ts';
import { readTorRuntime } from '../tor/runtime.ts';
import { isOnion, parseHostKeyPin, parseHostPort, parseSshTarget, TOR_SOCKS } from './ssh-target.ts';

/** The flags, as parsed by the command (strings, unchecked). */
export interface SshFlags {
  readonly id: string;
  readonly ssh: string;
  readonly operator?: string | undefined;
  readonly socks?: string | undefined;
  readonly identity?: string | undefined;
  readonly hostKey?: string | undefined;
  readonly natsUrl?: string | undefined;
  readonly agentBundle?: string | undefined;
  readonly remoteRoot?: string | undefined;
}

/** A file of onionfleet's package: the checkout, or the installed package (whose code is bundled in deploy/dist/). */
const repoFile = (path: string) => packageFile(import.meta.url, path);

/** The single-file agent `npm run build:agent` writes. */
export const DEFAULT_AGENT_BUNDLE = repoFile('deploy/dist/onionfleet-agent.mjs');
const INSTALLER = repoFile('deploy/install-agent.sh');
const UNIT = repoFile('deploy/onionfleet-agent.service');

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/**
 * Checks the flags and the local files and returns the enrollment's options (all but `progress`).
 * Throws InvalidInputError (exit 2) naming each bad flag or file. The only thing it may create is
 * the NATS onion's key in the state (when `--nats-url` is not given), which is made once and kept.
 */
export async function resolveSshOptions(flags: SshFlags, paths: StatePaths, confirmHostKey: ConfirmHostKey | null): Promise<Omit<SshEnrollOptions, 'progress'>> {
  const problems: Problem[] = [];
  const endpoint = parseSshTarget(flags.ssh);
  if (endpoint === null) problems.push({ source: '--ssh', message: 'expected USER@HOST[:PORT] (e.g. root@pi.local or root@<56 characters>.onion:22)' });
  if (flags.operator === undefined) problems.push({ source: '--operator', message: 'required with --ssh (the operator who owns the device)' });
  const socks = flags.socks === undefined ? null : parseHostPort(flags.socks);
  if (flags.socks !== undefined && socks === null) problems.push({ source: '--socks', message: 'expected HOST:PORT (tor: 127.0.0.1:9050)' });
  const hostKey = flags.hostKey === undefined ? null : parseHostKeyPin(flags.hostKey);
  if (flags.hostKey !== undefined && hostKey === null) problems.push({ source: '--host-key', message: 'expected SHA256:<43 base64 characters>, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it' });
  const remoteRoot = flags.remoteRoot === undefined ? '/' : posix.normalize(flags.remoteRoot);
  if (!remoteRoot.startsWith('/')) problems.push({ source: '--remote-root', message: 'expected an absolute path' });
  const bundle = flags.agentBundle ?? DEFAULT_AGENT_BUNDLE;
  if (!(await exists(bundle))) problems.push({ source: bundle, message: 'no agent bundle here (the single-file agent)' });
  for (const file of [INSTALLER, UNIT, ...APPLIER_UNITS.map((name) => join(dirname(UNIT), name))]) if (!(await exists(file))) problems.push({ source: file, message: 'missing from this checkout' });
  if (problems.length > 0 || endpoint === null) {
    throw new InvalidInputError(problems, problems.some((p) => p.source === bundle) ? { hint: 'build it with `npm run build:agent`, or pass --agent-bundle FILE' } : {});
  }
  const identity = await loadIdentity(paths);
  const privateKey = await loadPrivateKey(flags.identity ?? join(homedir(), '.ssh/id_ed25519'));
  const natsUrl = flags.natsUrl ?? (await ensureNatsOnion(paths)).url;
  // An onion without --socks: serve's own tor (it holds the admin's keys to the devices' SSH onions), else the system tor.
  const controllerTor = await readTorRuntime(paths);
  const onionSocks = controllerTor === null ? TOR_SOCKS : { host: '127.0.0.1', port: controllerTor.socksPort };
  return {
    paths,
    device: flags.id,
    ssh: { endpoint, socks: socks ?? (isOnion(endpoint.host) ? onionSocks : null), privateKey, hostKey, confirmHostKey },
    files: { bundle, installer: INSTALLER, unit: UNIT },
    natsUrl,
    controller: { signingKey: identity.signingKey, ageRecipient: identity.ageRecipient },
    remoteRoot: remoteRoot === '/' ? '/' : remoteRoot.replace(/\/+$/, ''),
  };
}
