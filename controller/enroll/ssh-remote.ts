/**
 * The device side of an SSH enrollment: where deploy/install-agent.sh puts things (below a root), how
 * commands run there (POSIX sh, through `sudo -n` when the login user is not root and the root is
 * the real one), and the agent config the controller writes for it.
 */
import { OperationFailedError, type ErrorCode } from '#shared/errors.ts';
import type { SshSession } from './ssh-session.ts';

/** The paths install-agent.sh uses below `root` (`/` on a Pi; a directory in tests and the demo). */
export function remoteLayout(root: string) {
  const r = root === '/' ? '' : root.replace(/\/+$/, '');
  const lib = `${r}/usr/local/lib/onionfleet`;
  return {
    root,
    lib,
    manifest: `${lib}/install.manifest`,
    installer: `${lib}/install-agent.sh`,
    bin: `${r}/usr/local/bin/onionfleet-agent`,
    etc: `${r}/etc/onionfleet`,
    config: `${r}/etc/onionfleet/agent.json`,
    keys: `${r}/etc/onionfleet/keys`,
    varLib: `${r}/var/lib/onionfleet`,
    /** The pid of an agent started in a sandbox root (install-agent.sh uninstall stops it). */
    pidFile: `${r}/var/lib/onionfleet/agent.pid`,
    agentLog: `${r}/var/log/onionfleet/agent.log`,
  } as const;
}
export type RemoteLayout = ReturnType<typeof remoteLayout>;

/** One word, quoted for sh. */
export function sh(word: string): string {
  return `'${word.replaceAll("'", String.raw`'\''`)}'`;
}

/** The last lines of a command's output, for an error message. */
export function tail(text: string, lines = 8): string {
  const kept = text.trim().split('\n').slice(-lines).join('\n');
  return kept === '' ? '(no output)' : kept;
}

/** Runs scripts on the device: as the login user, or (`privileged`) as root. */
export class RemoteShell {
  constructor(private readonly session: SshSession, private readonly sudo: boolean) {}

  /** `sh -c script` whatever the login shell is; with `privileged`, through `sudo -n` unless already root. */
  run(script: string, options: { privileged?: boolean } = {}) {
    const command = `sh -c ${sh(script)}`;
    return this.session.exec(options.privileged === true && this.sudo ? `sudo -n ${command}` : command);
  }

  /** Like {@link run}, but a non-zero exit throws OperationFailedError(`code`) with `what` and the output's tail. */
  async must(code: ErrorCode, what: string, script: string, options: { privileged?: boolean } = {}): Promise<string> {
    const result = await this.run(script, options);
    if (result.code !== 0) {
      throw new OperationFailedError(code, `${this.session.where}: ${what} failed (exit ${result.code}):\n${tail(result.stderr || result.stdout)}`);
    }
    return result.stdout;
  }
}

/** What the device has before anything is changed (its answers to one probe script). */
export interface RemoteFacts {
  readonly uid: number;
  /** Absolute path of node, or null when there is none. */
  readonly node: string | null;
  /** `node --version`'s major, or null. */
  readonly nodeMajor: number | null;
  /** install-agent.sh's manifest exists: an earlier installation that a rollback must keep. */
  readonly installed: boolean;
  /** The agent's keys exist: an identity a rollback must keep. */
  readonly keys: boolean;
  /** The agent config's text, or null. */
  readonly config: string | null;
}

const CONFIG_MARK = '--- agent.json ---';

/** The probe script; its output is `key=value` lines, then the config after a marker line. */
export function factsScript(layout: RemoteLayout): string {
  return [
    `printf 'uid=%s\\n' "$(id -u)"`,
    `n=$(command -v node || true); printf 'node=%s\\n' "$n"`,
    `[ -z "$n" ] || printf 'version=%s\\n' "$("$n" --version 2>/dev/null || true)"`,
    `[ ! -e ${sh(layout.manifest)} ] || echo installed=1`,
    `[ ! -e ${sh(`${layout.keys}/device`)} ] || echo keys=1`,
    `[ ! -f ${sh(layout.config)} ] || { echo ${sh(CONFIG_MARK)}; cat ${sh(layout.config)}; }`,
  ].join('\n');
}

export function parseFacts(stdout: string): RemoteFacts {
  const at = stdout.indexOf(`${CONFIG_MARK}\n`);
  const head = at === -1 ? stdout : stdout.slice(0, at);
  const values = new Map(head.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const major = /^v(\d+)\./.exec(values.get('version') ?? '');
  return {
    uid: Number(values.get('uid') ?? '-1'),
    node: (values.get('node') ?? '') === '' ? null : (values.get('node') ?? null),
    nodeMajor: major?.[1] === undefined ? null : Number(major[1]),
    installed: values.get('installed') === '1',
    keys: values.get('keys') === '1',
    config: at === -1 ? null : stdout.slice(at + CONFIG_MARK.length + 1),
  };
}

export interface AgentConfigInput {
  readonly root: string;
  readonly device: string;
  readonly controller: { readonly signingKey: string; readonly ageRecipient: string };
  readonly natsUrl: string;
}

const DEFAULT_SOCKS = '127.0.0.1:9050';

/**
 * The agent config: the device's existing one (the operator's limits and choices stay) with the
 * controller's part set — root, device, controller keys, NATS url — and the SOCKS ports defaulted.
 * The agent checks it (its schema) when `onionfleet-agent init` reads it.
 */
export function agentConfig(previous: Record<string, unknown> | null, input: AgentConfigInput): Record<string, unknown> {
  const prev = previous ?? {};
  const section = (key: string): Record<string, unknown> => {
    const value = prev[key];
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  };
  const nats = section('nats');
  const tor = section('tor');
  return {
    ...prev,
    root: input.root,
    device: input.device,
    controller: { signingKey: input.controller.signingKey, ageRecipient: input.controller.ageRecipient },
    nats: { ...nats, url: input.natsUrl, socks: typeof nats.socks === 'string' ? nats.socks : DEFAULT_SOCKS },
    tor: { ...tor, socks: typeof tor.socks === 'string' ? tor.socks : DEFAULT_SOCKS },
  };
}
