/**
 * `smp-server.ini` of one SMP instance (docs/reference/simplex-servers.md, "The ini files"). Pure.
 *
 * Contracts of the output:
 * - `key: value` separators (read by both v6.4 and v6.5), on/off values exactly `on`/`off`, no inline
 *   comments (the server's ini parser takes everything after the separator as the value);
 * - 7-bit ASCII only: the server reads the file with the locale's encoding, which under systemd may be C;
 * - exactly one `[TRANSPORT] port` (the instance's local port: members reach it through the onion);
 * - `[PROXY] socks_proxy` is an IP literal (`localhost:9050` fails to parse); `socks_mode` is `always`
 *   when the tier allows no egress but through Tor (`onion` would route to non-onion servers directly,
 *   from the device's own address), `onion` otherwise;
 * - no control port and no web server (`[WEB]` keys commented, as `init --disable-web` does);
 * - statistics: `log_stats: on` and `prometheus_interval` (the metrics file the agent collects, see
 *   agent/metrics/) unless the tier asks for none: the extreme tier leaves no statistics file behind
 *   and reports health only.
 */
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import { InternalError } from '#shared/errors.ts';

/** Values the SMP ini needs beyond the instance itself. */
export interface SmpIniContext {
  /** The instance's onion hostname (`<56 chars>.onion`); only printed by the server in its address. */
  readonly host: string;
  /** Tor's SOCKS port on 127.0.0.1, for private message routing to other onion servers. */
  readonly socksPort: number;
  /** Seconds between rewrites of the metrics file (`prometheus_interval`); default {@link METRICS_INTERVAL_SECONDS}. */
  readonly metricsIntervalSeconds?: number;
}

/** How often the servers rewrite their metrics file unless the agent config says otherwise. */
export const METRICS_INTERVAL_SECONDS = 60;

/** The `[STORE_LOG]` lines about statistics, shared by both inis: none at all for a tier without statistics. */
export function statisticsLines(noStatistics: boolean, intervalSeconds: number | undefined): string[] {
  if (noStatistics) return ['# This tier keeps no statistics files: no daily CSV and no metrics file.', 'log_stats: off'];
  return [
    '# Daily statistics CSV, and the Prometheus metrics file the agent collects, in the log directory.',
    'log_stats: on',
    `prometheus_interval: ${intervalSeconds ?? METRICS_INTERVAL_SECONDS}`,
  ];
}

/** Seconds an idle client stays connected, and how often the server looks (the servers' defaults). */
export const INACTIVE_CLIENTS = { ttl: 21600, checkInterval: 3600 } as const;

/**
 * Renders the complete `smp-server.ini` of `instance`. The result holds the instance's password:
 * write it with mode 0600.
 *
 * @throws Error when `instance` is not an SMP instance.
 */
export function renderSmpIni(instance: DesiredInstance, context: SmpIniContext): string {
  if (instance.kind !== 'smp') throw new InternalError(`renderSmpIni: ${instance.id} is an ${instance.kind} instance, not smp`);
  const { hardening } = instance;
  const lines = [
    '# Managed by onionfleet-agent - changes are overwritten.',
    `# SMP instance ${instance.id} (group ${instance.group}, tier ${instance.tier}).`,
    '',
    '[STORE_LOG]',
    '# Queues and undelivered messages survive restarts through the append-only store log.',
    'enable: on',
    'store_queues: memory',
    'store_messages: memory',
    'restore_messages: on',
    `expire_messages_days: ${hardening.expireMessagesDays}`,
    ...statisticsLines(hardening.noStatistics, context.metricsIntervalSeconds),
    '',
    '[AUTH]',
    'new_queues: on',
    '# Part of the members\' server address: smp://<fingerprint>:<password>@<onion>.',
    `create_password: ${instance.password}`,
    '# No control port: control_port_admin_password and control_port_user_password are unset.',
    '',
    '[TRANSPORT]',
    '# The onion hostname; the server only prints it. Members use the onion port, never this one.',
    `host: ${context.host}`,
    '# The server listens on every interface; the firewall drops this port except on loopback.',
    `port: ${instance.localPort}`,
    'log_tls_errors: off',
    'websockets: off',
    '',
    '[PROXY]',
    ...(hardening.torOnlyEgress
      ? ['# Private message routing goes through the local Tor to every server, onion or not: this device opens no connection of its own.']
      : ['# Private message routing to other onion servers goes through the local Tor.']),
    `socks_proxy: 127.0.0.1:${context.socksPort}`,
    `socks_mode: ${hardening.torOnlyEgress ? 'always' : 'onion'}`,
    '',
    '[INACTIVE_CLIENTS]',
    'disconnect: on',
    `ttl: ${INACTIVE_CLIENTS.ttl}`,
    `check_interval: ${INACTIVE_CLIENTS.checkInterval}`,
    '',
    '[WEB]',
    '# No web server and no static site: the server is reachable only as an onion service.',
    '# static_path:',
    '# https:',
    '# cert:',
    '# key:',
  ];
  return `${lines.join('\n')}\n`;
}
