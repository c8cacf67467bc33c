/**
 * The agent's metrics collector: once per status round it reads each instance's metrics file (the
 * servers rewrite it in place, so a half-written read is discarded and the last good one kept),
 * writes the node_exporter textfile atomically (temp + rename) and returns the compact summary the
 * status carries. Instances of a tier without statistics are skipped: they have no file, and the
 * device reports only their health.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { parsePromText } from '#shared/metrics/prom-text.ts';
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import type { MetricsSummary } from '#shared/schema/metrics-summary.ts';
import type { InstanceStatus } from '#shared/schema/status.ts';
import { PATHS } from '../render/paths.ts';
import { renderTextfile, summarizeInstance, type CollectedInstance } from './summary.ts';

/** The node_exporter textfile the agent writes in `metrics.textfileDir`. */
export const TEXTFILE_NAME = 'onionfleet.prom';

/** The metrics file of an instance below its log directory (docs/reference/simplex-servers.md). */
export function metricsFilePath(instance: Pick<DesiredInstance, 'kind' | 'id'>): string {
  return `${PATHS.logDir(instance.kind, instance.id)}/${instance.kind === 'smp' ? 'smp-server-metrics.txt' : 'xftp-server-metrics.txt'}`;
}

export class MetricsCollector {
  private readonly lastGood = new Map<string, { samples: CollectedInstance['samples']; mtimeMs: number }>();
  private readonly restartsOf = new Map<string, number>();
  private reconcileSeconds: number | null = null;
  private reconciles = 0;

  /**
   * `backupAge`: the age of the oldest change not yet in a sent backup (agent/backup/sender.ts), when
   * backups run. `textfileRoot`: the root the textfile is written below, when not `root` (the agent
   * behind an applier reads the metrics files from its view and writes the textfile where it may).
   */
  constructor(private readonly root: string, private readonly textfileDir: string, private readonly backupAge?: (now: number) => number | null, private readonly textfileRoot: string = root) {}

  /** Records one reconcile's duration and the instances it restarted. */
  recordReconcile(seconds: number, restartedInstances: readonly string[]): void {
    this.reconcileSeconds = seconds;
    this.reconciles++;
    for (const id of restartedInstances) this.restartsOf.set(id, (this.restartsOf.get(id) ?? 0) + 1);
  }

  /** Reads the files, writes the textfile, returns the summary. `now` in ms since the epoch. */
  async collect(desired: readonly DesiredInstance[], health: readonly InstanceStatus[], now: number): Promise<MetricsSummary> {
    const collected: CollectedInstance[] = [];
    for (const i of desired) {
      if (i.hardening.noStatistics) {
        this.lastGood.delete(i.id);
        continue;
      }
      const path = join(this.root, metricsFilePath(i));
      const st = await stat(path).catch(() => null);
      if (st !== null && st.mtimeMs !== this.lastGood.get(i.id)?.mtimeMs) {
        const text = await readFile(path, 'utf8').catch(() => '');
        const samples = parsePromText(text);
        // A file caught mid-rewrite (empty, cut in a line, or before its info sample) is not kept:
        // the last good one stands, and the next round reads it again.
        if (samples !== null && text.endsWith('\n') && samples.some((s) => s.name === `simplex_${i.kind}_info`)) this.lastGood.set(i.id, { samples, mtimeMs: st.mtimeMs });
      }
      const good = this.lastGood.get(i.id);
      if (good !== undefined) collected.push({ id: i.id, group: i.group, samples: good.samples, fileAgeSeconds: Math.max(0, (now - good.mtimeMs) / 1000) });
    }
    for (const id of this.lastGood.keys()) if (!desired.some((i) => i.id === id)) this.lastGood.delete(id);
    const agent = { reconcileSeconds: this.reconcileSeconds, reconciles: this.reconciles, restarts: [...this.restartsOf.values()].reduce((a, b) => a + b, 0), rssBytes: process.memoryUsage.rss(), backupAgeSeconds: this.backupAge?.(now) ?? null };
    const figures = desired.map((i) => {
      const h = health.find((s) => s.id === i.id);
      return { id: i.id, group: i.group, healthy: h?.healthy ?? false, probeLatencyMs: h?.probe?.latencyMs ?? null, restarts: this.restartsOf.get(i.id) ?? 0 };
    });
    await mkdir(join(this.textfileRoot, this.textfileDir), { recursive: true, mode: 0o755 });
    await writeFileAtomic(join(this.textfileRoot, this.textfileDir, TEXTFILE_NAME), renderTextfile(collected, figures, agent), { mode: 0o644 });
    return { collectedAt: new Date(now).toISOString(), agent, instances: collected.map(summarizeInstance) };
  }
}
