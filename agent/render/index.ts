/**
 * The agent's renderers: every configuration file a device needs, computed from its DesiredState
 * and the onion hostnames tor assigned. Pure (see README.md): the reconcile shell compares the
 * result with the disk and writes what differs.
 */
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { PATHS } from './paths.ts';
import { renderSmpIni } from './smp-ini.ts';
import { renderFirewall } from './nftables.ts';
import { renderSshdDropIn } from './sshd.ts';
import { renderFirewallUnit, renderInstanceUnit } from './systemd-unit.ts';
import { renderTorrcFragment, renderTorrcMain, SSH_ONION } from './torrc.ts';
import { renderXftpIni } from './xftp-ini.ts';
import { InternalError } from '#shared/errors.ts';

export { renderSmpIni, INACTIVE_CLIENTS, type SmpIniContext } from './smp-ini.ts';
export { renderXftpIni, type XftpIniContext } from './xftp-ini.ts';
export { renderTorrcMain, renderTorrcFragment, sshOnionHardening, SSH_ONION, TORRC_INCLUDE, type OnionHardening } from './torrc.ts';
export { renderInstanceUnit, renderFirewallUnit, FIREWALL_UNIT, NFT_BINARY, SERVICE_USER } from './systemd-unit.ts';
export { renderFirewall, FIREWALL_TABLE, TOR_ACCOUNT } from './nftables.ts';
export { renderSshdDropIn } from './sshd.ts';
export { PATHS, serviceName } from './paths.ts';

/**
 * One file the agent manages. `kind` tells the executor what a change needs: `torrc` and `other`
 * (onion client authorization) a tor reload, `systemd` a daemon-reload, `nftables` a reload of the
 * firewall unit, `sshd` an sshd reload, an ini a restart of its instance.
 */
export interface RenderedFile {
  /** Absolute path on the real system (PATHS); `render --root DIR` places it below DIR. */
  path: string;
  kind: 'torrc' | 'systemd' | 'nftables' | 'sshd' | 'smp-ini' | 'xftp-ini' | 'other';
  /** 0o600 for files that hold secrets (the ini files hold passwords), 0o644 otherwise. */
  mode: number;
  content: string;
  /**
   * The Unix account that must own the file; absent means root. Files under /var/lib/tor belong to
   * `debian-tor` (tor refuses or cannot read them otherwise); the ini files belong to `simplex`, the
   * account the servers run as (they are 0600).
   */
  owner?: 'debian-tor' | 'simplex';
}

export interface RenderOptions {
  /**
   * Prefix for the paths that servers read from inside their configuration at run time (the XFTP
   * files directory) — '' on a device; the agent's root when it runs servers in a sandbox root.
   */
  readonly contentRoot?: string;
  /** `prometheus_interval` of every instance that keeps statistics (the agent config's `metrics.intervalSeconds`). */
  readonly metricsIntervalSeconds?: number;
}

/** Mode of files that hold secrets (passwords) or sit in tor's private directories. */
export const SECRET_MODE = 0o600;
/** Mode of every other file. */
export const PUBLIC_MODE = 0o644;

const ONION_HOSTNAME = /^[a-z2-7]{56}\.onion$/;

/**
 * The path of one client-authorization file of the SSH onion (docs/reference/tor.md, "Client authorization"):
 * `<HiddenServiceDir>/authorized_clients/<name>.auth`.
 */
export function sshClientAuthPath(name: string): string {
  return `${PATHS.onionDir(SSH_ONION.name)}/authorized_clients/${name}.auth`;
}

/**
 * Every file the agent manages on the device, sorted by path. Same input, same output.
 *
 * Always: the main torrc and onionfleet's fragment, both unit templates (so a kind that comes back
 * later needs no new unit), the firewall unit and rules. Per instance: its ini. With SSH over Tor:
 * the sshd drop-in and one client-authorization file per key. A file not in the list must not exist
 * (the executor removes the sshd drop-in and stale `.auth` files).
 *
 * @param hosts instance id → the instance's onion hostname (`<56 chars>.onion`), read from tor's
 *   `hostname` file of the instance's onion service.
 * @throws Error when `hosts` lacks an instance or holds a malformed hostname, or when two SSH
 *   client-authorization keys share a name.
 */
export function renderDevice(desired: DesiredState, hosts: ReadonlyMap<string, string>, options: RenderOptions = {}): RenderedFile[] {
  const contentRoot = options.contentRoot ?? '';
  const files: RenderedFile[] = [
    { path: PATHS.torrc, kind: 'torrc', mode: PUBLIC_MODE, content: renderTorrcMain({ socksPort: desired.tor.socksPort }) },
    { path: PATHS.torrcFragment, kind: 'torrc', mode: PUBLIC_MODE, content: renderTorrcFragment(desired, { contentRoot }) },
    { path: PATHS.unitTemplate('smp'), kind: 'systemd', mode: PUBLIC_MODE, content: renderInstanceUnit('smp', desired.binaries['smp-server'].path) },
    { path: PATHS.unitTemplate('xftp'), kind: 'systemd', mode: PUBLIC_MODE, content: renderInstanceUnit('xftp', desired.binaries['xftp-server'].path) },
    { path: PATHS.firewallUnit, kind: 'systemd', mode: PUBLIC_MODE, content: renderFirewallUnit() },
    { path: PATHS.firewallRules, kind: 'nftables', mode: PUBLIC_MODE, content: renderFirewall(desired) },
  ];
  for (const instance of desired.instances) {
    const host = hostOf(hosts, instance.id);
    const content =
      instance.kind === 'smp'
        ? renderSmpIni(instance, { host, socksPort: desired.tor.socksPort, metricsIntervalSeconds: options.metricsIntervalSeconds })
        : renderXftpIni(instance, { host, filesDir: `${contentRoot}${PATHS.xftpFilesDir(instance.id)}`, metricsIntervalSeconds: options.metricsIntervalSeconds });
    files.push({ path: PATHS.iniFile(instance.kind, instance.id), kind: `${instance.kind}-ini`, mode: SECRET_MODE, owner: 'simplex', content });
  }
  const sshd = renderSshdDropIn(desired);
  if (sshd !== null) {
    files.push({ path: PATHS.sshdDropIn, kind: 'sshd', mode: PUBLIC_MODE, content: sshd });
    const names = new Set<string>();
    for (const key of desired.ssh.clientAuth) {
      if (names.has(key.name)) throw new InternalError(`renderDevice: two SSH client-authorization keys are named "${key.name}"; names become file names and must be unique`);
      names.add(key.name);
      files.push({ path: sshClientAuthPath(key.name), kind: 'other', mode: SECRET_MODE, owner: 'debian-tor', content: `descriptor:x25519:${key.publicKey}\n` });
    }
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function hostOf(hosts: ReadonlyMap<string, string>, id: string): string {
  const host = hosts.get(id);
  if (host === undefined) {
    throw new InternalError(`renderDevice: no onion hostname for instance ${id}; read ${PATHS.onionDir(id)}/hostname once tor has created the service`);
  }
  if (!ONION_HOSTNAME.test(host)) throw new InternalError(`renderDevice: onion hostname of ${id} is malformed: expected 56 characters of a-z2-7 and ".onion", got "${host}"`);
  return host;
}
