/**
 * The compact metrics summary an agent adds to its status (sealed with the rest of it): a few
 * SimpleX figures per instance and the agent's own. The full text stays on the device (the
 * node_exporter textfile); the controller serves this summary on `onionfleet metrics`. Pure.
 *
 * What it can never hold: an onion address, a password, a key. Series names are a closed pattern
 * (`simplex_smp_*` / `simplex_xftp_*`), values are numbers, the version is digits and dots.
 */
import { z } from 'zod';
import { InstanceId } from './desired-state.ts';

/** The SimpleX series the agent summarizes (each summed over its labels). */
export const SUMMARY_SERIES = [
  'simplex_smp_queues_created', 'simplex_smp_queues_secured', 'simplex_smp_queues_deleted', 'simplex_smp_queues_total1',
  'simplex_smp_queues_daily', 'simplex_smp_messages_sent', 'simplex_smp_messages_received', 'simplex_smp_messages_expired',
  'simplex_smp_messages_total', 'simplex_smp_subscribtion_total', 'simplex_smp_clients_total', 'simplex_smp_sockets_active',
  'simplex_smp_sockets_accepted', 'simplex_smp_threads_total',
  'simplex_xftp_files_created', 'simplex_xftp_files_uploaded', 'simplex_xftp_files_deleted', 'simplex_xftp_files_expired',
  'simplex_xftp_file_downloads', 'simplex_xftp_files_count', 'simplex_xftp_files_size',
] as const;
export type SummarySeries = (typeof SUMMARY_SERIES)[number];

export const InstanceMetrics = z.strictObject({
  id: InstanceId,
  /** The server's version from `simplex_*_info`, when its file had one. */
  version: z.string().regex(/^\d+(\.\d+){0,4}$/).nullable(),
  /** Summed samples of {@link SUMMARY_SERIES} found in the file. */
  series: z.partialRecord(z.enum(SUMMARY_SERIES), z.number()),
  /** Seconds since the server last rewrote its metrics file (at collection). */
  fileAgeSeconds: z.number().min(0),
});
export type InstanceMetrics = z.infer<typeof InstanceMetrics>;

export const AgentFigures = z.strictObject({
  /** Duration of the last reconcile, seconds; null before the first. */
  reconcileSeconds: z.number().min(0).nullable(),
  /** Reconciles since the agent started. */
  reconciles: z.int().min(0),
  /** Instance restarts the agent made since it started (a changed configuration). */
  restarts: z.int().min(0),
  /** The agent process's resident memory at collection, bytes (absent from agents that predate it). */
  rssBytes: z.int().min(0).optional(),
  /** Age of the newest sealed backup, seconds; absent until the agent makes backups. */
  backupAgeSeconds: z.number().min(0).nullable().optional(),
});
export type AgentFigures = z.infer<typeof AgentFigures>;

export const MetricsSummary = z.strictObject({
  collectedAt: z.string(),
  agent: AgentFigures,
  /** Instances whose tier keeps statistics and whose metrics file was readable; the extreme tier's never appear. */
  instances: z.array(InstanceMetrics).max(1024),
});
export type MetricsSummary = z.infer<typeof MetricsSummary>;
