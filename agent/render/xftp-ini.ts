/**
 * `file-server.ini` of one XFTP instance (docs/reference/simplex-servers.md, "The ini files"). Pure.
 *
 * Same output contracts as `smp-ini.ts`: `key: value`, exact on/off, no inline comments, 7-bit
 * ASCII, one local port, no control port. Statistics: `log_stats: on` and `prometheus_interval` unless
 * the tier asks for none (xftp-server writes its metrics file from v6.4.2).
 */
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import { INACTIVE_CLIENTS, statisticsLines } from './smp-ini.ts';
import { InternalError } from '#shared/errors.ts';

/** Values the XFTP ini needs beyond the instance itself. */
export interface XftpIniContext {
  /** The instance's onion hostname (`<56 chars>.onion`); only printed by the server in its address. */
  readonly host: string;
  /** Absolute directory where the server stores files (`xftp-server init -p`). */
  readonly filesDir: string;
  /** Seconds between rewrites of the metrics file (`prometheus_interval`). */
  readonly metricsIntervalSeconds?: number;
}

/**
 * Renders the complete `file-server.ini` of `instance`. The result holds the instance's password:
 * write it with mode 0600.
 *
 * @throws Error when `instance` is not an XFTP instance or has no quota.
 */
export function renderXftpIni(instance: DesiredInstance, context: XftpIniContext): string {
  if (instance.kind !== 'xftp') throw new InternalError(`renderXftpIni: ${instance.id} is an ${instance.kind} instance, not xftp`);
  if (instance.quota === undefined) throw new InternalError(`renderXftpIni: ${instance.id} has no storage quota`);
  const { hardening } = instance;
  const lines = [
    '# Managed by onionfleet-agent - changes are overwritten.',
    `# XFTP instance ${instance.id} (group ${instance.group}, tier ${instance.tier}).`,
    '',
    '[STORE_LOG]',
    '# File records survive restarts through the append-only store log.',
    'enable: on',
    `expire_files_hours: ${hardening.expireFilesHours}`,
    ...statisticsLines(hardening.noStatistics, context.metricsIntervalSeconds),
    '',
    '[AUTH]',
    'new_files: on',
    '# Part of the members\' server address: xftp://<fingerprint>:<password>@<onion>.',
    `create_password: ${instance.password}`,
    '',
    '[TRANSPORT]',
    '# The onion hostname; the server only prints it. Members use the onion port, never this one.',
    `host: ${context.host}`,
    '# The server listens on every interface; the firewall drops this port except on loopback.',
    `port: ${instance.localPort}`,
    'log_tls_errors: off',
    '',
    '[FILES]',
    `path: ${context.filesDir}`,
    `storage_quota: ${instance.quota}`,
    '',
    '[INACTIVE_CLIENTS]',
    'disconnect: on',
    `ttl: ${INACTIVE_CLIENTS.ttl}`,
    `check_interval: ${INACTIVE_CLIENTS.checkInterval}`,
  ];
  return `${lines.join('\n')}\n`;
}
