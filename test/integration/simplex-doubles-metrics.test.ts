/**
 * The doubles' Prometheus metrics file, as simplexmq v6.4.5 writes it: only with
 * `[STORE_LOG] prometheus_interval`, announced on stdout, first written after one interval,
 * rewritten in place (same inode, not temp-and-rename), with the real metric names and a
 * millisecond timestamp on each sample; the socket counts follow the connections it served.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePromText, type Sample } from '#shared/metrics/prom-text.ts';
import { probeIdentity } from '#shared/probes/tls-identity.ts';
import { startDouble, type RunningDouble } from '../support/simplex-server.ts';
import { until } from '../support/processes.ts';

const running: RunningDouble[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
});

const value = (samples: readonly Sample[], name: string) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);

async function metricsOf(d: RunningDouble, file: string, ok: (s: Sample[]) => boolean): Promise<Sample[]> {
  return until(`${file} to match`, async () => {
    const text = await readFile(join(d.logDir, file), 'utf8').catch(() => null);
    const samples = text === null ? null : parsePromText(text);
    return samples !== null && ok(samples) ? samples : null;
  }, 20_000);
}

describe('the SimpleX doubles write metrics files like the real servers', () => {
  it('smp-server: simplex_smp_* every prometheus_interval, in place, counting the sockets it served', async () => {
    const d = await startDouble('smp', { prometheusInterval: 1 });
    running.push(d);
    const file = join(d.logDir, 'smp-server-metrics.txt');
    // The line follows the listening lines on stdout, maybe in a later chunk of the pipe.
    await until('the metrics line', () => (d.output().includes(`Prometheus metrics saved every 1 seconds to ${file}`) ? true : null), 30_000);
    const first = await metricsOf(d, 'smp-server-metrics.txt', () => true);
    for (const name of ['simplex_smp_info', 'simplex_smp_queues_created', 'simplex_smp_messages_sent', 'simplex_smp_messages_total', 'simplex_smp_sockets_active', 'simplex_smp_clients_total']) {
      expect(first.map((s) => s.name), name).toContain(name);
    }
    expect(first.find((s) => s.name === 'simplex_smp_info')?.labels).toMatchObject({ version: '6.4.5.1' });
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^simplex_smp_queues_created 0 \d{13}$/m); // a millisecond timestamp on the sample
    expect(text).toMatch(/^# qCreated$/m);
    const inode = (await stat(file)).ino;

    const probe = await probeIdentity({ kind: 'smp', fingerprint: d.fingerprint, host: '127.0.0.1', port: d.port, timeoutMs: 10_000 });
    expect(probe.identityOk).toBe(true);
    const after = await metricsOf(d, 'smp-server-metrics.txt', (s) => value(s, 'simplex_smp_sockets_accepted') >= 1);
    expect(after.find((s) => s.name === 'simplex_smp_sockets_accepted')?.labels).toEqual({ port: String(d.port) });
    expect((await stat(file)).ino, 'rewritten in place, not renamed over').toBe(inode);
  });

  it('xftp-server: simplex_xftp_* with the real TYPE quirk of files_count', async () => {
    const d = await startDouble('xftp', { prometheusInterval: 1 });
    running.push(d);
    const samples = await metricsOf(d, 'xftp-server-metrics.txt', () => true);
    expect(samples.map((s) => s.name)).toEqual(expect.arrayContaining(['simplex_xftp_files_created', 'simplex_xftp_files_uploaded', 'simplex_xftp_file_downloads', 'simplex_xftp_files_count', 'simplex_xftp_info']));
    expect(await readFile(join(d.logDir, 'xftp-server-metrics.txt'), 'utf8')).toContain('# TYPE simplex_xftp_files_count_total gauge\nsimplex_xftp_files_count 0 ');
  });

  it('writes no metrics file without prometheus_interval', async () => {
    const d = await startDouble('smp');
    running.push(d);
    // The double has served a connection and stays up: nothing appears (checked after a probe round-trip, not a sleep).
    await probeIdentity({ kind: 'smp', fingerprint: d.fingerprint, host: '127.0.0.1', port: d.port, timeoutMs: 10_000 });
    expect(d.output()).not.toContain('Prometheus metrics');
    expect(existsSync(join(d.logDir, 'smp-server-metrics.txt'))).toBe(false);
  });
});
