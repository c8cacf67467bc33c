/**
 * The agent's metrics: the Prometheus text reader and writer, the textfile and summary built from
 * the doubles' own text (so the real names and quirks flow through), and the collector's file
 * handling — half-written files discarded, the extreme tier skipped, the textfile renamed into place.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatFamilies, parsePromText } from '#shared/metrics/prom-text.ts';
import { MetricsSummary } from '#shared/schema/metrics-summary.ts';
import { MetricsCollector, metricsFilePath, TEXTFILE_NAME } from '../../../agent/metrics/collector.ts';
import { renderTextfile, summarizeInstance } from '../../../agent/metrics/summary.ts';
// @ts-expect-error -- the doubles are plain ESM JavaScript without types
import { smpMetrics, xftpMetrics } from '../../doubles/simplex-double-metrics.mjs';
import { instance } from '../../builders/desired.ts';

type Counts = { ports: Record<string, { accepted: number; closed: number; active: number; hellos: number }> };
const smpText = (counts: Counts = { ports: { '5223': { accepted: 3, closed: 1, active: 2, hellos: 3 } } }) =>
  (smpMetrics as (c: Counts, f: Date, n: Date) => string)(counts, new Date(0), new Date(1_700_000_000_000));
const xftpText = () => (xftpMetrics as (c: Counts, f: Date, n: Date) => string)({ ports: {} }, new Date(0), new Date(1_700_000_000_000));

const temps: string[] = [];
afterEach(async () => { await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true }))); });

describe('Prometheus text', () => {
  it('reads samples with labels, escapes and timestamps, and refuses a line cut in half', () => {
    const s = parsePromText('# HELP x y\nx{a="1",b="q\\"uote"} 3 1700000000000\n# comment\ny 2.5\n');
    expect(s).toEqual([{ name: 'x', labels: { a: '1', b: 'q"uote' }, value: 3 }, { name: 'y', labels: {}, value: 2.5 }]);
    expect(parsePromText('x{a="1" 3\n')).toBeNull();
    expect(parsePromText('simplex_smp_queues_cre')).toBeNull();
  });

  it('writes HELP/TYPE once per family, no timestamps, and round-trips', () => {
    const text = formatFamilies([
      { name: 'm', help: 'h', type: 'gauge', samples: [{ name: 'm', labels: { instance: 'a' }, value: 1 }] },
      { name: 'm', help: 'h', type: 'gauge', samples: [{ name: 'm', labels: { instance: 'b' }, value: 2 }] },
    ]);
    expect(text).toBe('# HELP m h\n# TYPE m gauge\nm{instance="a"} 1\nm{instance="b"} 2\n');
    expect(parsePromText(text)?.map((s) => s.value)).toEqual([1, 2]);
  });
});

describe('textfile and summary', () => {
  it('keeps the simplex_smp_* series with instance and group labels, drops timestamps and rts_options', () => {
    const samples = parsePromText(smpText()) ?? [];
    const text = renderTextfile([{ id: 'newsroom-smp-01', group: 'newsroom', samples, fileAgeSeconds: 4 }],
      [{ id: 'newsroom-smp-01', group: 'newsroom', healthy: true, probeLatencyMs: 12, restarts: 1 }], { reconcileSeconds: 0.25, reconciles: 3, restarts: 1 });
    expect(text).toMatch(/^simplex_smp_sockets_active\{instance="newsroom-smp-01",group="newsroom",port="5223"\} 2$/m);
    expect(text).toMatch(/^simplex_smp_info\{instance="newsroom-smp-01",group="newsroom",version="6\.4\.5\.1"\} 1$/m);
    expect(text).not.toContain('rts_options');
    expect(text).not.toMatch(/ \d{13}$/m);
    expect(text).toMatch(/^onionfleet_instance_healthy\{instance="newsroom-smp-01",group="newsroom"\} 1$/m);
    expect(text).toMatch(/^onionfleet_instance_probe_latency_seconds\{instance="newsroom-smp-01",group="newsroom"\} 0\.012$/m);
    expect(text).toMatch(/^onionfleet_agent_reconcile_duration_seconds 0\.25$/m);
    expect(parsePromText(text)).not.toBeNull();
    const summary = summarizeInstance({ id: 'newsroom-smp-01', group: 'newsroom', samples, fileAgeSeconds: 4 });
    expect(summary).toMatchObject({ version: '6.4.5.1', fileAgeSeconds: 4, series: { simplex_smp_sockets_active: 2, simplex_smp_sockets_accepted: 3, simplex_smp_messages_sent: 0 } });
  });

  it('reads the xftp file despite its TYPE quirk', () => {
    const summary = summarizeInstance({ id: 'newsroom-xftp-01', group: 'newsroom', samples: parsePromText(xftpText()) ?? [], fileAgeSeconds: 0 });
    expect(summary.series).toMatchObject({ simplex_xftp_files_count: 0, simplex_xftp_files_created: 0 });
    expect(summary.version).toBe('6.4.5.1');
  });
});

describe('MetricsCollector', () => {
  it('collects each statistics-keeping instance, skips the extreme tier, keeps the last good file, writes the textfile by rename', async () => {
    const root = await mkdtemp(join(tmpdir(), 'onionfleet-metrics-'));
    temps.push(root);
    const standard = instance('smp', 1, { tier: 'standard' });
    const extreme = instance('smp', 1, { group: 'sources', tier: 'extreme' });
    for (const i of [standard, extreme]) await mkdir(join(root, metricsFilePath(i), '..'), { recursive: true });
    await writeFile(join(root, metricsFilePath(standard)), smpText());
    await writeFile(join(root, metricsFilePath(extreme)), smpText()); // would never exist: proves it is not read
    const collector = new MetricsCollector(root, '/var/lib/onionfleet/metrics');
    collector.recordReconcile(0.5, [standard.id]);
    const health = [standard, extreme].map((i) => ({ id: i.id, kind: i.kind, group: i.group, service: 'active' as const, onion: null, fingerprint: null, address: null, probe: null, healthy: true }));
    const first = MetricsSummary.parse(await collector.collect([standard, extreme], health, Date.now()));
    expect(first.instances.map((i) => i.id)).toEqual([standard.id]);
    expect(first.agent).toMatchObject({ reconcileSeconds: 0.5, reconciles: 1, restarts: 1 });
    expect(first.agent.rssBytes).toBeGreaterThan(1024 * 1024);
    const dir = join(root, 'var/lib/onionfleet/metrics');
    expect(await readdir(dir)).toEqual([TEXTFILE_NAME]); // no temp file left behind
    const textfile = await readFile(join(dir, TEXTFILE_NAME), 'utf8');
    expect(textfile).toContain(`simplex_smp_info{instance="${standard.id}"`);
    expect(textfile).not.toContain('sources-smp-01",group="sources",version');
    const inode = (await stat(join(dir, TEXTFILE_NAME))).ino;

    // The server is caught mid-rewrite: the half file is ignored, the last good figures stand.
    await writeFile(join(root, metricsFilePath(standard)), smpText().slice(0, 300));
    const second = await collector.collect([standard, extreme], health, Date.now());
    expect(second.instances[0]?.series.simplex_smp_sockets_active).toBe(2);
    expect((await stat(join(dir, TEXTFILE_NAME))).ino, 'replaced by rename').not.toBe(inode);
  });
});
