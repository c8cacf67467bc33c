/**
 * systemd units: one template per server kind (`onionfleet-smp@.service`, `onionfleet-xftp@.service`,
 * instance name = instance id) and the oneshot that loads the firewall. Pure.
 *
 * Contracts:
 * - each instance gets its own pair of directories through the servers' environment variables
 *   (`%i` is the instance id verbatim; `%I` would turn "-" into "/");
 * - SIGINT stops a server (it saves undelivered messages on SIGINT, not on SIGTERM);
 * - an instance requires the firewall unit: a server listens on every interface, so it must not run
 *   without the rules that confine its port to loopback. Load new rules with
 *   `systemctl reload onionfleet-firewall` (a restart would restart every server too);
 * - the servers run unprivileged (ports ≥ 1024), without capabilities, and may write only their own
 *   directories;
 * - an instance held at boot (agent/hold/: its file in /run/onionfleet/held) does not start: the
 *   condition is checked at each start, after onionfleet-hold.service ran.
 */
import type { InstanceKind } from '#shared/schema/desired-state.ts';
import { PATHS } from './paths.ts';

/** The Unix account the servers run as (created by the agent's installer). */
export const SERVICE_USER = 'simplex';

/** nft's path on Debian and Raspberry Pi OS. */
export const NFT_BINARY = '/usr/sbin/nft';

/** The boot hold's oneshot (deploy/onionfleet-hold.service): it runs before tor and the instances. */
export const HOLD_UNIT = 'onionfleet-hold.service';

/** The unit name of the firewall oneshot. */
export const FIREWALL_UNIT = PATHS.firewallUnit.slice(PATHS.firewallUnit.lastIndexOf('/') + 1);

const ENV = {
  smp: { cfg: 'SMP_SERVER_CFG_PATH', log: 'SMP_SERVER_LOG_PATH', title: 'SimpleX SMP server' },
  xftp: { cfg: 'XFTP_SERVER_CFG_PATH', log: 'XFTP_SERVER_LOG_PATH', title: 'SimpleX XFTP server' },
} as const;

/**
 * Renders the template unit `onionfleet-<kind>@.service`; `binaryPath` is the absolute path of the
 * server binary (`smp-server` or `xftp-server`), run as `<binaryPath> start`.
 */
export function renderInstanceUnit(kind: InstanceKind, binaryPath: string): string {
  const env = ENV[kind];
  const configDir = PATHS.configDir(kind, '%i');
  const logDir = PATHS.logDir(kind, '%i');
  // The XFTP files directory is writable too; listed only when it is not inside a listed directory.
  const dirs = kind === 'xftp' ? [configDir, logDir, PATHS.xftpFilesDir('%i')] : [configDir, logDir];
  const writable = dirs.filter((d) => !dirs.some((o) => d.startsWith(`${o}/`)));
  return [
    '# Managed by onionfleet-agent - changes are overwritten.',
    '[Unit]',
    `Description=onionfleet ${env.title} %i`,
    'Documentation=https://github.com/simplex-chat/simplexmq',
    'Wants=network-online.target tor.service',
    `Requires=${FIREWALL_UNIT}`,
    `After=network-online.target tor.service ${FIREWALL_UNIT} ${HOLD_UNIT}`,
    '# Held back at boot until the controller confirms the instance (docs/continuity.md, "A device that comes back").',
    `ConditionPathExists=!${PATHS.heldDir}/%i`,
    '',
    '[Service]',
    'Type=exec',
    `User=${SERVICE_USER}`,
    `Group=${SERVICE_USER}`,
    `Environment=${env.cfg}=${configDir}`,
    `Environment=${env.log}=${logDir}`,
    `ExecStart=${binaryPath} start`,
    '# SIGINT is the servers\' clean shutdown (SMP saves undelivered messages; SIGTERM would lose them).',
    'KillSignal=SIGINT',
    'Restart=on-failure',
    'RestartSec=5',
    'LimitNOFILE=65535',
    '# The servers print their address (password and onion included) on stdout at start: keep it out of the journal.',
    'StandardOutput=null',
    'StandardError=journal',
    'UMask=0077',
    '',
    '# Sandbox. Not MemoryDenyWriteExecute: the GHC runtime may need executable memory for FFI callbacks.',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${writable.join(' ')}`,
    'ProtectHome=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'SystemCallArchitectures=native',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * Renders `onionfleet-firewall.service`: loads the rules file (`nft -f`, atomic and idempotent, see
 * `nftables.ts`) before the network comes up, and again on reload. It has no ExecStop on purpose:
 * stopping the unit leaves the rules in place.
 */
export function renderFirewallUnit(): string {
  const load = `${NFT_BINARY} -f ${PATHS.firewallRules}`;
  return [
    '# Managed by onionfleet-agent - changes are overwritten.',
    '[Unit]',
    'Description=onionfleet firewall: service ports reachable on loopback only',
    'DefaultDependencies=no',
    'Wants=network-pre.target',
    'Before=network-pre.target shutdown.target',
    'Conflicts=shutdown.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${load}`,
    `ExecReload=${load}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
