// TEST DOUBLE of the SimpleX server — not the real thing. The Prometheus metrics file.
//
// As simplexmq v6.4.5 does (Server.hs / FileTransfer/Server.hs `savePrometheusMetrics`, and
// Server/Prometheus.hs / FileTransfer/Server/Prometheus.hs for the text): when `[STORE_LOG]
// prometheus_interval: N` is set, start prints `Prometheus metrics saved every N seconds to FILE`,
// then forever waits N seconds and rewrites `<logPath>/smp-server-metrics.txt` (xftp:
// `xftp-server-metrics.txt`) **in place** (T.writeFile: truncate and write, not temp-and-rename).
// The text has the real metric names, HELP/TYPE lines, the `# qCreated`-style comment after each
// sample and a millisecond timestamp on every sample; the values are the double's own counts (TLS
// connections accepted, closed and open, hellos sent); everything it does not model is 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from './simplex-double.mjs';

export const METRICS_FILE = { smp: 'smp-server-metrics.txt', xftp: 'xftp-server-metrics.txt' };

/** `prometheus_interval` from the ini: null when absent; ExitError text when not a positive integer. */
export function metricsInterval(value) {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || Number(value) < 1) return { error: `invalid prometheus_interval: ${value}` };
  return Number(value);
}

/**
 * Starts the writer: the first file appears after one interval, like the real server's. Returns
 * `stop()`. `counts` is read at each write: `{ accepted, closed, active, hellos }` per port.
 */
export function startMetricsWriter(k, dirs, intervalSeconds, counts, startedAt = new Date()) {
  const file = join(dirs.log, METRICS_FILE[k.scheme]);
  process.stdout.write(`Prometheus metrics saved every ${intervalSeconds} seconds to ${file}\n`);
  const timer = setInterval(() => {
    const now = new Date();
    writeFileSync(file, k.scheme === 'smp' ? smpMetrics(counts, startedAt, now) : xftpMetrics(counts, startedAt, now));
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer), file };
}

const header = (from, now) => `# Recorded at: ${now.toISOString()}\n# Stats from: ${from.toISOString()}\n\n`;

function family(name, help, type, samples, ts) {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value, comment] of samples) {
    lines.push(`${name}${labels} ${value}${ts === null ? '' : ` ${ts}`}`);
    if (comment) lines.push(`# ${comment}`);
  }
  return `${lines.join('\n')}\n\n`;
}

/** smp-server-metrics.txt, section by section as Prometheus.hs writes it (abridged: the modelled families). */
export function smpMetrics(counts, from, now) {
  const ts = now.getTime();
  const ports = Object.entries(counts.ports);
  const total = (key) => ports.reduce((n, [, c]) => n + c[key], 0);
  const f = (name, help, type, samples) => family(name, help, type, samples, ts);
  return header(from, now)
    + '# Queues\n# ------\n\n'
    + f('simplex_smp_queues_created', 'Created queues', 'counter', [['', 0, 'qCreated']])
    + f('simplex_smp_queues_secured', 'Secured queues', 'counter', [['', 0, 'qSecured']])
    + f('simplex_smp_queues_deleted', 'Deleted queues', 'counter', [['{type="all"}', 0, 'qDeleted'], ['{type="new"}', 0, 'qDeletedNew'], ['{type="secured"}', 0, 'qDeletedSecured']])
    + f('simplex_smp_queues_total1', 'Total number of stored queues (first type of count).', 'gauge', [['', 0, 'qCount']])
    + f('simplex_smp_queues_daily', 'Daily active queues.', 'gauge', [['', 0, 'dayMsgQueues']])
    + '# Subscriptions\n# -------------\n\n'
    + f('simplex_smp_subscribtion_successes', 'Successful subscriptions.', 'counter', [['', 0, 'qSub']])
    + '# Messages\n# --------\n\n'
    + f('simplex_smp_messages_sent', 'Sent messages.', 'counter', [['', 0, 'msgSent']])
    + f('simplex_smp_messages_received', 'Received messages.', 'counter', [['', 0, 'msgRecv']])
    + f('simplex_smp_messages_expired', 'Expired messages.', 'counter', [['', 0, 'msgExpired']])
    + f('simplex_smp_messages_total', 'Total number of messages stored.', 'gauge', [['', 0, 'msgCount']])
    + '# Info\n# ----\n\n'
    + family('simplex_smp_info', 'Server information. RTS options have to be passed via SMP_RTS_OPTIONS env var', 'gauge', [[`{version="${VERSION}",rts_options="set SMP_RTS_OPTIONS"}`, 1]], null)
    + f('simplex_smp_sockets_accepted', 'Accepted sockets', 'gauge', ports.map(([p, c]) => [`{port="${p}"}`, c.accepted]))
    + f('simplex_smp_sockets_closed', 'Closed sockets', 'gauge', ports.map(([p, c]) => [`{port="${p}"}`, c.closed]))
    + f('simplex_smp_sockets_active', 'Active sockets', 'gauge', ports.map(([p, c]) => [`{port="${p}"}`, c.active]))
    + f('simplex_smp_threads_total', 'Threads', 'gauge', [['', 4 + total('active')]])
    + f('simplex_smp_clients_total', 'Clients', 'gauge', [['', total('active')]])
    + f('simplex_smp_subscribtion_total', 'Total SMP subscriptions', 'gauge', [['', 0, 'smp.subsCount']]);
}

/** xftp-server-metrics.txt as FileTransfer/Server/Prometheus.hs writes it (including its TYPE quirk). */
export function xftpMetrics(_counts, from, now) {
  const ts = now.getTime();
  const f = (name, help, type, samples) => family(name, help, type, samples, ts);
  return header(from, now)
    + '# Files\n# -----\n\n'
    + f('simplex_xftp_files_created', 'Created files', 'counter', [['', 0, 'filesCreated']])
    + f('simplex_xftp_files_recipients', 'Files recipients', 'counter', [['', 0, 'fileRecipients']])
    + f('simplex_xftp_files_uploaded', 'Uploaded files', 'counter', [['', 0, 'filesUploaded']])
    + f('simplex_xftp_files_expired', 'Expired files', 'counter', [['', 0, 'filesExpired']])
    + f('simplex_xftp_files_deleted', 'Deleted files', 'counter', [['', 0, 'filesDeleted']])
    + f('simplex_xftp_file_downloads', 'File downloads', 'counter', [['', 0, 'fileDownloads']])
    // The real server's TYPE line names `…_count_total` and its sample `simplex_xftp_files_count`.
    + '# HELP simplex_xftp_files_count_total Total files count \n# TYPE simplex_xftp_files_count_total gauge\n'
    + `simplex_xftp_files_count 0 ${ts}\n# filesCount\n\n`
    + f('simplex_xftp_files_size', 'Size of files ', 'gauge', [['', 0, 'filesSize ']])
    + '# Info\n# ----\n\n'
    + '# HELP simplex_xftp_info Server information. RTS options have to be passed via XFTP_RTS_OPTIONS env var\n'
    + '# TYPE simplex_xftp_info gauge\n'
    + `simplex_xftp_info{version="${VERSION}",rts_options="set XFTP_RTS_OPTIONS"} 1\n\n`;
}
