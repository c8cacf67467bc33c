/**
 * Issue #17's "done when", under `onionfleet demo --keep` (real processes: serve, four agents, the
 * SimpleX doubles writing metrics files): `onionfleet metrics` shows `simplex_smp_*` for every
 * non-extreme instance with the right labels; `onionfleet ui` refuses requests without its token,
 * and in headless Chromium (Debian's) shows the demo fleet — groups with tiers, each instance's
 * device, operator, location and health — loading nothing from elsewhere (screenshot saved under
 * .tmp/test-output/); stopping one Pi's agent and servers raises "group below minimum" and "device
 * silent" on the test channel (a webhook on loopback) within the configured time and both clear
 * when it is back; and no onion address or password appears in the metrics, the page's data or
 * any alert. Every process the test started is stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePromText, type Sample } from '#shared/metrics/prom-text.ts';
import { BIN } from '../support/cli.ts';
import { stopChild, stopPid, stopSupervised, until } from '../support/processes.ts';

/** The demo fleet (controller/demo/fleet.ts). */
const DEVICES: Record<string, { operator: string; location: string }> = {
  'pi-1': { operator: 'alice', location: 'berlin-office' },
  'pi-2': { operator: 'bob', location: 'amsterdam-flat' },
  'pi-3': { operator: 'carol', location: 'vienna-studio' },
  'pi-4': { operator: 'alice', location: 'berlin-home' },
};
const ARTIFACTS = join(import.meta.dirname, '../../.tmp/test-output');
const SILENT_AFTER = 15;

interface Hook { status: string; rule: string; subject: string; message: string }
interface Page { groups: { id: string; tier: string; belowMinimum: boolean }[]; instances: { id: string; device: string; operator: string; location: string; healthy: boolean }[]; alerts: { rule: string; subject: string; firing: boolean }[] }

const dir = join(mkdtempSync(join(tmpdir(), 'onionfleet-demo-observe-')), 'demo');
const owned: ChildProcess[] = [];
let demo: ChildProcess;
let demoOut = '';
let metricsUrl = '';
let uiUrl = '';
const received: Hook[] = [];
const bodies: string[] = [];
let receiver: http.Server;

function start(args: readonly string[], bin = BIN.onionfleet): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  owned.push(child);
  return { child, out: () => out };
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const text = await (await fetch(metricsUrl)).text();
  return { text, samples: parsePromText(text) ?? [] };
}

/** Where each instance really runs: its config dir under a Pi's root. */
function placement(): Map<string, string> {
  const where = new Map<string, string>();
  for (const device of Object.keys(DEVICES)) {
    for (const kind of ['simplex', 'simplex-xftp']) {
      const base = join(dir, 'devices', device, 'root/etc/opt', kind);
      for (const id of existsSync(base) ? readdirSync(base) : []) where.set(id, device);
    }
  }
  return where;
}

/** The status of a GET with a forged Host header (fetch does not let one set it). */
function hostStatus(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    http.get({ host: '127.0.0.1', port: u.port, path: `${u.pathname}${u.search}`, headers: { host } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
}

const has = (status: string, rule: string, subject: string) => received.some((e) => e.status === status && e.rule === rule && e.subject === subject);

beforeAll(async () => {
  demo = spawn(process.execPath, [BIN.onionfleet, 'demo', '--dir', dir, '--keep'], { stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout?.on('data', (b: Buffer) => (demoOut += b.toString()));
  demo.stderr?.on('data', (b: Buffer) => (demoOut += b.toString()));
  await until('the demo to converge and keep running', () => {
    if (demo.exitCode !== null) throw new Error(`demo exited: ${demoOut}`);
    return demoOut.includes('running until Ctrl-C') ? true : null;
  }, 240_000);

  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => { bodies.push(body); received.push(JSON.parse(body) as Hook); res.writeHead(204).end(); });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const alerts = join(dir, 'alerts.yaml');
  writeFileSync(alerts, `version: 1\nevaluateEverySeconds: 1\nrules:\n  deviceSilent: { afterSeconds: ${String(SILENT_AFTER)} }\n  instanceUnhealthy: { forMinutes: 30 }\nchannels:\n  - { type: webhook, url: "http://127.0.0.1:${String((receiver.address() as { port: number }).port)}/alerts" }\n`);
  const fleet = join(dir, 'fleet.yaml');
  const state = join(dir, 'controller');
  const metrics = start(['metrics', '-f', fleet, '--state', state, '--port', '0', '--alerts', alerts]);
  const ui = start(['ui', '-f', fleet, '--state', state, '--alerts', alerts]);
  metricsUrl = await until('metrics to listen', () => /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(metrics.out())?.[1] ?? null, 30_000);
  uiUrl = await until('ui to listen', () => /(http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/.exec(ui.out())?.[1] ?? null, 30_000);
}, 300_000);

afterAll(async () => {
  for (const child of owned) await stopChild(child, 'SIGINT');
  await stopChild(demo, 'SIGINT');
  for (const device of Object.keys(DEVICES)) await stopSupervised(join(dir, 'devices', device, 'root'));
  await new Promise((r) => receiver.close(r));
}, 60_000);

describe('seeing the demo fleet', () => {
  it('serves simplex_smp_* for every (non-extreme) instance, with device, operator, group and instance labels', async () => {
    const where = placement();
    expect(where.size).toBe(6);
    const { samples } = await until('every instance in /metrics', async () => {
      const s = await scrape();
      const seen = new Set(s.samples.filter((x) => x.name === 'simplex_smp_info' || x.name === 'simplex_xftp_info').map((x) => x.labels.instance));
      return seen.size === where.size ? s : null;
    }, 90_000);
    for (const [instance, device] of where) {
      const kind = instance.includes('-smp-') ? 'smp' : 'xftp';
      const series = samples.filter((s) => s.labels.instance === instance && s.name.startsWith(`simplex_${kind}_`));
      expect(series.length, instance).toBeGreaterThan(3);
      for (const s of series) expect(s.labels).toMatchObject({ device, operator: DEVICES[device]?.operator, group: instance.split('-')[0], instance });
    }
    expect(samples.filter((s) => s.name === 'simplex_smp_messages_sent').map((s) => s.labels.instance).sort()).toEqual([...where.keys()].filter((i) => i.includes('-smp-')).sort());
  }, 120_000);

  it('shows the fleet in the dashboard, in headless Chromium, behind its token', async (ctx) => {
    const base = new URL(uiUrl);
    for (const path of ['/', '/api/fleet', '/app.js', `/?token=${'x'.repeat(32)}`]) expect((await fetch(new URL(path, base.origin))).status, path).toBe(403);
    // A page elsewhere that rebinds its name to 127.0.0.1 still sends its own Host: refused, token or not.
    expect(await hostStatus(uiUrl, 'evil.example')).toBe(421);
    expect(await hostStatus(metricsUrl, 'evil.example:80')).toBe(421);
    const where = placement();
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(uiUrl);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
      await until('every instance healthy on the page', async () => ((await page.locator('#instances tbody tr td.ok').count()) === where.size ? true : null), 30_000);
      const cells = async (table: string) => Promise.all((await page.locator(`#${table} tbody tr`).all()).map((tr) => tr.locator('td').allTextContents()));
      const groups = await cells('groups');
      expect(groups.map((g) => [g[0], g[1], g[5]])).toEqual([['family', 'standard', 'ok'], ['newsroom', 'high', 'ok']]);
      const rows = await cells('instances');
      expect(rows.map((r) => r[0]).sort()).toEqual([...where.keys()].sort());
      for (const [id, group, device, operator, location, health] of rows) {
        expect(device, `${String(id)} device`).toBe(where.get(id ?? ''));
        expect([group, operator, location, health]).toEqual([id?.split('-')[0], DEVICES[device ?? '']?.operator, DEVICES[device ?? '']?.location, 'healthy']);
      }
      expect(await page.locator('#fleet').textContent()).toBe('demo');
      expect(requests.every((u) => u.startsWith(`${base.origin}/`)), requests.join('\n')).toBe(true);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'fleet-dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`the dashboard of the demo fleet as Chromium drew it: ${shot}`);
      await ctx.annotate('the dashboard of the demo fleet', { path: shot, contentType: 'image/png' });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('raises "group below minimum" and "device silent" when one Pi stops, and clears both when it is back', async (ctx) => {
    const victim = placement().get('newsroom-smp-01') ?? '';
    expect(victim).toMatch(/^pi-/);
    const marker = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as { processes: { name: string; pid: number }[] };
    const agentPid = marker.processes.find((p) => p.name === `agent-${victim}`)?.pid ?? 0;
    expect(agentPid).toBeGreaterThan(1);
    const stoppedAt = Date.now();
    await stopPid(agentPid, 'SIGTERM');
    await stopSupervised(join(dir, 'devices', victim, 'root'));
    await until('both alerts on the test channel', () => (has('firing', 'deviceSilent', victim) && has('firing', 'groupBelowMinimum', 'newsroom') ? true : null), 120_000);
    console.log(`alerts fired ${String(Math.round((Date.now() - stoppedAt) / 1000))} s after the Pi stopped (device silent: no status for ${String(SILENT_AFTER)} s, counted from its last heartbeat; evaluated every 1 s)`);
    const data = await until('the page data to show them', async () => {
      const d = await (await fetch(new URL('/api/fleet', uiUrl).href + new URL(uiUrl).search)).json() as Page;
      return d.alerts.some((a) => a.firing && a.rule === 'groupBelowMinimum') ? d : null;
    }, 30_000);
    expect(data.groups.find((g) => g.id === 'newsroom')?.belowMinimum).toBe(true);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
      await page.goto(uiUrl);
      await page.waitForSelector('#alerts .alert', { timeout: 30_000 });
      const shot = join(ARTIFACTS, 'fleet-dashboard-alerts.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`the dashboard during the outage: ${shot}`);
      await ctx.annotate('the dashboard during the outage', { path: shot, contentType: 'image/png' });
    } finally {
      await browser.close();
    }

    start(['run', '--config', join(dir, 'devices', victim, 'agent.json')], BIN.agent);
    await until('both alerts to clear', () => (has('resolved', 'deviceSilent', victim) && has('resolved', 'groupBelowMinimum', 'newsroom') ? true : null), 120_000);
  }, 300_000);

  it('puts no onion address or password in the metrics, the page data or the alerts', async () => {
    const secrets: string[] = [];
    for (const device of Object.keys(DEVICES)) {
      const root = join(dir, 'devices', device, 'root');
      const onions = join(root, 'var/lib/tor/onionfleet');
      for (const name of readdirSync(onions)) if (existsSync(join(onions, name, 'hostname'))) secrets.push(readFileSync(join(onions, name, 'hostname'), 'utf8').trim());
      for (const kind of ['simplex', 'simplex-xftp']) {
        const base = join(root, 'etc/opt', kind);
        for (const id of existsSync(base) ? readdirSync(base) : []) {
          const password = /^create_password: (.+)$/m.exec(readFileSync(join(base, id, kind === 'simplex' ? 'smp-server.ini' : 'file-server.ini'), 'utf8'))?.[1];
          if (password !== undefined) secrets.push(password);
        }
      }
    }
    expect(secrets.length).toBeGreaterThanOrEqual(12);
    const pageJson = await (await fetch(new URL('/api/fleet', uiUrl).href + new URL(uiUrl).search)).text();
    const seen = [(await scrape()).text, pageJson, ...bodies].join('\n');
    for (const s of secrets) expect(seen.includes(s), `a secret (${s.slice(0, 6)}…) leaked`).toBe(false);
    expect(seen).not.toMatch(/[a-z2-7]{56}\.onion|(smp|xftp):\/\//);
  });
});
