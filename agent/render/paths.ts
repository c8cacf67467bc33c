/**
 * Where everything the agent manages lives on a device, as absolute paths on the real system.
 * `render --root DIR` and tests place the same paths below DIR. Pure.
 *
 * Instances get their own pair of directories, chosen through the servers' environment variables
 * (docs/reference/simplex-servers.md) — no symlink or BindPaths trick. Onion service directories sit under
 * /var/lib/tor, the only place AppArmor lets Debian's tor write.
 */
import type { InstanceKind } from '#shared/schema/desired-state.ts';

export const PATHS = {
  /** SMP_SERVER_CFG_PATH / XFTP_SERVER_CFG_PATH of an instance. */
  configDir: (kind: InstanceKind, id: string) => (kind === 'smp' ? `/etc/opt/simplex/${id}` : `/etc/opt/simplex-xftp/${id}`),
  /** SMP_SERVER_LOG_PATH / XFTP_SERVER_LOG_PATH of an instance. */
  logDir: (kind: InstanceKind, id: string) => (kind === 'smp' ? `/var/opt/simplex/${id}` : `/var/opt/simplex-xftp/${id}`),
  /** The XFTP files directory (`xftp-server init -p`). */
  xftpFilesDir: (id: string) => `/var/opt/simplex-xftp/${id}/files`,
  /** The server's ini inside its config dir. */
  iniFile: (kind: InstanceKind, id: string) => `${PATHS.configDir(kind, id)}/${kind === 'smp' ? 'smp-server.ini' : 'file-server.ini'}`,
  /** HiddenServiceDir of an instance, or of `ssh`. */
  onionDir: (name: string) => `/var/lib/tor/onionfleet/${name}`,
  torrc: '/etc/tor/torrc',
  /** tor's ClientOnionAuthDir: `controller.auth_private` opens the controller's NATS onion. */
  torClientAuthDir: '/var/lib/tor/onionfleet-client-auth',
  torrcFragment: '/etc/tor/torrc.d/onionfleet.conf',
  /** systemd template units, one per kind: `onionfleet-smp@<instance>.service`. */
  unitTemplate: (kind: InstanceKind) => `/etc/systemd/system/onionfleet-${kind}@.service`,
  firewallUnit: '/etc/systemd/system/onionfleet-firewall.service',
  firewallRules: '/etc/onionfleet/firewall.nft',
  sshdDropIn: '/etc/ssh/sshd_config.d/onionfleet.conf',
  /** The agent's own records (applied config hashes) and the archive of retired instances. */
  agentState: '/var/lib/onionfleet/state.json',
  archive: '/var/lib/onionfleet/archive',
  /**
   * The boot hold (agent/hold/): one empty file per instance held back since this boot, and
   * `held.json`. A tmpfs: gone at the next boot by itself. An instance's unit does not start while its file exists.
   */
  heldDir: '/run/onionfleet/held',
} as const;

/** The systemd unit (and supervisor service) name of an instance. */
export function serviceName(kind: InstanceKind, id: string): string {
  return `onionfleet-${kind}@${id}.service`;
}
