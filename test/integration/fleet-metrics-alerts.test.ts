/**
 * Seeing the fleet, with the real parts: `onionfleet serve` (nats-server), three agent processes
 * with the SimpleX doubles writing their metrics files, and `onionfleet metrics` serving /metrics
 * and evaluating alerts. The test channel is a real HTTP server on loopback (the webhook) and a
 * real command hook. Proves: `simplex_smp_*` for every instance with the right device, operator,
 * group and instance labels; stopping one Pi's agent and servers raises "device silent" and "group
 * below minimum" on the test channel, and both clear when it is back; no onion address, password
 * or key in the metrics, the alerts or the alert state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePromText, type Sample } from '#shared/metrics/prom-text.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { stopChild, stopSupervised, until } from '../support/processes.ts';

const DEVICES = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const FLEET = [
  'version: 1',
  'fleet: seeing',
  'operators: [{ id: alice }, { id: bob }, { id: carol }]',
  'devices:',
  ...DEVICES.map((d, i) => `  - { id: ${d.id}, operator: ${d.operator}, location: site-${String(i)}, jurisdiction: DE }`),
  'groups:',
  '  - { id: newsroom, tier: high, smp: 2, xftp: 1, members: [m] }',
  'members:',
  '  - { id: m, passphrase: true }',
  '',
].join('\n');

interface Hook { status: string; rule: string; subject: string; message: string; labels: Record<string, string> }

let h: FleetHarness;
let metrics: ChildProcess | null = null;
let metricsOut = '';
let port = 0;
let receiver: http.Server;
const received: Hook[] = [];
const rawBodies: string[] = [];
let commandFile = '';

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`http://127.0.0.1:${String(port)}/metrics`);
  const text = await res.text();
  return { text, samples: parsePromText(text) ?? [] };
}

const has = (status: string, rule: string, subject: string) => received.some((e) => e.status === status && e.rule === rule && e.subject === subject);

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  for (const d of DEVICES) {
    await h.enroll(d.id, { metrics: { intervalSeconds: 1 } });
    h.startAgent(d.id);
  }
  const fleet = h.writeFleet(FLEET);
  const applied = await h.apply(fleet, '--wait', '--timeout', '120');
  expect(applied.code, applied.stderr).toBe(0);

  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      rawBodies.push(body);
      received.push(JSON.parse(body) as Hook);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookPort = (receiver.address() as { port: number }).port;
  commandFile = join(h.dir, 'command-hook.jsonl');
  const alerts = join(h.dir, 'alerts.yaml');
  writeFileSync(alerts, [
    'version: 1',
    'evaluateEverySeconds: 1',
    'rules:',
    '  deviceSilent: { afterSeconds: 15 }',
    '  instanceUnhealthy: { forMinutes: 30 }',
    'channels:',
    `  - { type: webhook, url: "http://127.0.0.1:${String(hookPort)}/hook?token=t0k3n" }`,
    `  - { type: command, argv: ["${process.execPath}", "-e", "process.stdin.pipe(require('fs').createWriteStream(process.argv[1], { flags: 'a' }))", "${commandFile}"] }`,
    '',
  ].join('\n'));
  metrics = spawn(process.execPath, [BIN.onionfleet, 'metrics', '-f', fleet, '--state', h.state, '--port', '0', '--alerts', alerts], { stdio: ['ignore', 'pipe', 'pipe'] });
  metrics.stdout?.on('data', (b: Buffer) => (metricsOut += b.toString()));
  metrics.stderr?.on('data', (b: Buffer) => (metricsOut += b.toString()));
  port = await until('onionfleet metrics to listen', () => {
    if (metrics?.exitCode != null) throw new Error(`metrics exited: ${metricsOut}`);
    const m = /http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(metricsOut);
    return m === null ? null : Number(m[1]);
  }, 30_000);
}, 240_000);

afterAll(async () => {
  await stopChild(metrics ?? undefined, 'SIGINT');
  await new Promise((r) => receiver.close(r));
  await h.stop();
});

describe('onionfleet metrics and alerts', () => {
  it('serves simplex_smp_* and simplex_xftp_* for every instance, labelled device, operator, group, instance', async () => {
    const status = JSON.parse((await h.status()).stdout) as { devices: { device: string; total: number }[] };
    expect(status.devices.reduce((n, d) => n + d.total, 0)).toBe(3);
    const { samples } = await until('every instance to show its SimpleX series', async () => {
      const s = await scrape();
      const info = s.samples.filter((x) => x.name === 'simplex_smp_info' || x.name === 'simplex_xftp_info');
      return info.length === 3 && s.samples.some((x) => x.name === 'simplex_smp_sockets_accepted') ? s : null;
    }, 60_000);
    const smp = samples.filter((s) => s.name === 'simplex_smp_info');
    expect(smp.map((s) => s.labels.instance).sort()).toEqual(['newsroom-smp-01', 'newsroom-smp-02']);
    expect(samples.filter((s) => s.name === 'simplex_xftp_info').map((s) => s.labels.instance)).toEqual(['newsroom-xftp-01']);
    for (const s of samples.filter((x) => x.name.startsWith('simplex_'))) {
      expect(Object.keys(s.labels).slice(0, 4)).toEqual(['device', 'operator', 'group', 'instance']);
      const device = DEVICES.find((d) => d.id === s.labels.device);
      expect(device?.operator, `${s.name} operator`).toBe(s.labels.operator);
      expect(s.labels.group).toBe('newsroom');
      // The instance really runs on the labelled device.
      const cfg = join(h.dir, 'devices', s.labels.device ?? '', 'root/etc/opt', s.labels.instance?.includes('-smp-') ? 'simplex' : 'simplex-xftp');
      expect(readdirSync(cfg)).toContain(s.labels.instance);
    }
    // The agents' own figures reach the controller too, and the device's textfile exists.
    expect(samples.some((s) => s.name === 'onionfleet_agent_reconciles_total' && s.value >= 1)).toBe(true);
    expect(samples.find((s) => s.name === 'onionfleet_group_below_minimum')?.value).toBe(0);
    const textfile = readFileSync(join(h.dir, 'devices/pi-a/root/var/lib/onionfleet/metrics/onionfleet.prom'), 'utf8');
    expect(textfile).toMatch(/^onionfleet_instance_healthy\{instance="newsroom-/m);
    expect(received.filter((e) => e.status === 'firing')).toEqual([]);

    // One round on demand, as a read command: the groups against their minimum, no alert, exit 0.
    const once = await runBin(BIN.onionfleet, ['metrics', '--once', '--json', '-f', join(h.dir, 'fleet.yaml'), '--state', h.state]);
    expect(once.code, once.stderr).toBe(0);
    const report = JSON.parse(once.stdout) as { fleet: string; groups: { group: string; belowMinimum: boolean; healthySmp: number }[]; alerts: unknown[] };
    expect(report).toMatchObject({ fleet: 'seeing', groups: [{ group: 'newsroom', belowMinimum: false, healthySmp: 2 }], alerts: [] });
  }, 90_000);

  it('refuses a bad alerts file or fleet file with one line per problem and exit 2, starting nothing', async () => {
    const bad = join(h.dir, 'bad-alerts.yaml');
    writeFileSync(bad, 'version: 1\nevaluateEverySeconds: 0\nchannels:\n  - { type: pager, to: me }\n');
    const run = await runBin(BIN.onionfleet, ['metrics', '-f', join(h.dir, 'fleet.yaml'), '--state', h.state, '--alerts', bad, '--port', '0']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines.some((l) => l.startsWith(`${bad}: evaluateEverySeconds: `))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${bad}: channels[0]`))).toBe(true);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const noFleet = await runBin(BIN.onionfleet, ['ui', '-f', join(h.dir, 'missing.yaml'), '--state', h.state]);
    expect(noFleet.code).toBe(2);
    expect(noFleet.stderr.trim()).toBe(`${join(h.dir, 'missing.yaml')}: no such file`);
  });

  it('raises "device silent" and "group below minimum" when one Pi stops, and clears them when it is back', async () => {
    const { samples } = await scrape();
    const victim = samples.find((s) => s.name === 'simplex_smp_info')?.labels.device ?? '';
    expect(victim).toMatch(/^pi-/);
    await h.stopAgent(victim);
    await stopSupervised(join(h.dir, 'devices', victim, 'root'));
    await until('device silent and group below minimum on the webhook', () => (has('firing', 'deviceSilent', victim) && has('firing', 'groupBelowMinimum', 'newsroom') ? true : null), 90_000);
    const below = received.find((e) => e.rule === 'groupBelowMinimum');
    expect(below?.message).toMatch(/newsroom \(high\) is below its tier's healthy minimum: 1 healthy SMP instance\(s\), the high tier needs 2/);
    expect((await scrape()).samples.find((s) => s.name === 'onionfleet_alert_firing' && s.labels.rule === 'deviceSilent')?.labels.subject).toBe(victim);
    // The command hook got the same events.
    const viaCommand = () => (existsSync(commandFile) ? readFileSync(commandFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Hook) : []);
    await until('the command hook to get them', () => (viaCommand().some((e) => e.status === 'firing' && e.rule === 'deviceSilent' && e.subject === victim) ? true : null), 30_000);

    h.startAgent(victim);
    await until('both alerts to clear', () => (has('resolved', 'deviceSilent', victim) && has('resolved', 'groupBelowMinimum', 'newsroom') ? true : null), 120_000);
  }, 240_000);

  it('puts no onion address, password or key in the metrics, the alerts or the alert state', async () => {
    const secrets: string[] = [];
    for (const d of DEVICES) {
      const root = join(h.dir, 'devices', d.id, 'root');
      const onions = join(root, 'var/lib/tor/onionfleet');
      for (const name of readdirSync(onions)) secrets.push(readFileSync(join(onions, name, 'hostname'), 'utf8').trim());
      for (const kind of ['simplex', 'simplex-xftp']) {
        const base = join(root, 'etc/opt', kind);
        for (const id of existsSync(base) ? readdirSync(base) : []) {
          const ini = readFileSync(join(base, id, kind === 'simplex' ? 'smp-server.ini' : 'file-server.ini'), 'utf8');
          secrets.push(/^create_password: (.+)$/m.exec(ini)?.[1] ?? 'no-password-found');
        }
      }
      const keys = join(root, 'etc/onionfleet/keys');
      for (const f of readdirSync(keys)) secrets.push(...(readFileSync(join(keys, f), 'utf8').match(/[A-Za-z0-9+/=_-]{20,}/g) ?? []));
    }
    expect(secrets.filter((s) => s.endsWith('.onion')).length).toBeGreaterThanOrEqual(3); // the instances' (and the SSH onions)
    const seen = [(await scrape()).text, ...rawBodies, readFileSync(commandFile, 'utf8'), readFileSync(join(h.state, 'alerts.json'), 'utf8'), metricsOut].join('\n');
    for (const s of secrets) expect(seen.includes(s), `a secret (${s.slice(0, 6)}…) leaked`).toBe(false);
    expect(seen).not.toMatch(/[a-z2-7]{56}\.onion/);
    expect(seen).not.toMatch(/(smp|xftp):\/\//);
  });
});
