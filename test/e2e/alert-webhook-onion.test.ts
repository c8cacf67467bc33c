/**
 * The alert webhook to an onion URL, over the real Tor (a private network on loopback): a service
 * tor publishes the admin's receiver (an HTTP server on loopback) as a v3 onion; `deliver()` posts a
 * firing alert to `http://<onion>/hook` through a client tor's SOCKS port (the hostname resolved by
 * Tor, never by DNS), and the receiver gets exactly that JSON. The same URL with no SOCKS proxy
 * listening fails, so nothing reached the onion any other way.
 */
import http from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateTorNetwork } from '../../controller/demo/private-tor/private-network.ts';
import { deliver } from '../../controller/alerts/deliver.ts';
import type { AlertEvent } from '../../controller/alerts/evaluate.ts';
import { WebhookChannel } from '../../controller/alerts/rules.ts';
import { randomOnionKeys } from '#shared/crypto/onion.ts';
import { freePort } from '../support/processes.ts';

const DEADLINE_MS = 180_000;
const RETRY_MS = 2_000;

let root: string;
let network: PrivateTorNetwork | undefined;
let receiver: http.Server;
const bodies: { path: string; body: string }[] = [];
let onion: string;
let socksPort: number;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'onionfleet-e2e-webhook-'));
  network = await PrivateTorNetwork.start({ dir: join(root, 'network') });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => { bodies.push({ path: req.url ?? '', body }); res.writeHead(204).end(); });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const keys = randomOnionKeys();
  onion = keys.hostname;
  const hsDir = join(root, 'service', 'hs');
  await mkdir(hsDir, { recursive: true, mode: 0o700 });
  await writeFile(join(hsDir, 'hs_ed25519_secret_key'), keys.secretKeyFile, { mode: 0o600 });
  await network.startTor({ name: 'service', dir: join(root, 'service', 'tor'), lines: [`HiddenServiceDir ${hsDir}`, `HiddenServicePort 80 127.0.0.1:${String((receiver.address() as { port: number }).port)}`] });
  const client = await network.startTor({ name: 'admin', dir: join(root, 'admin', 'tor'), socks: true, lines: [] });
  socksPort = client.socksPort ?? 0;
}, 300_000);

afterAll(async () => {
  await network?.stop();
  await new Promise((r) => receiver.close(r));
  await rm(root, { recursive: true, force: true });
});

const event: AlertEvent = {
  status: 'firing', fleet: 'newsroom', rule: 'deviceSilent', subject: 'pi-2', labels: { device: 'pi-2', operator: 'bob' },
  message: 'device pi-2 (operator bob, amsterdam-flat) has sent no status for 200 s', since: '2026-12-03T12:00:00.000Z', at: '2026-12-03T12:03:20.000Z',
};

describe('the alert webhook over Tor', () => {
  it('posts the alert to an onion URL through the SOCKS port', async () => {
    const channel = WebhookChannel.parse({ type: 'webhook', url: `http://${onion}/hook?token=abc`, socks: `127.0.0.1:${String(socksPort)}`, timeoutSeconds: 60 });
    const deadline = Date.now() + DEADLINE_MS;
    let last: unknown = null;
    // Until the service's descriptor is published the client tor refuses the stream: retry, as `metrics` does each round.
    const arrived = () => bodies.length > 0;
    while (!arrived() && Date.now() < deadline) {
      await deliver(channel, event).then(() => { last = null; }, (err: unknown) => { last = err; });
      if (!arrived()) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    expect(last, String(last)).toBeNull();
    expect(bodies).toEqual([{ path: '/hook?token=abc', body: JSON.stringify(event) }]);
  }, DEADLINE_MS + 30_000);

  it('does not reach the onion without a SOCKS proxy', async () => {
    const closed = await freePort();
    const channel = WebhookChannel.parse({ type: 'webhook', url: `http://${onion}/hook`, socks: `127.0.0.1:${String(closed)}`, timeoutSeconds: 10 });
    await expect(deliver(channel, event)).rejects.toThrow();
    expect(bodies).toHaveLength(1);
  });
});
