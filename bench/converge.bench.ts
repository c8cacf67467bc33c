/**
 * Control-plane benchmark (issue 4): 200 agents (4 worker processes of 50, no-op reconciler) on a
 * loopback nats-server converge after one apply. Reports the time from the start of the apply until
 * every device reports its new revision, the bytes per agent for that apply, and the steady-state
 * bytes per agent per minute (one sealed status per heartbeat of 30 s). Target: ≤ 5,000 ms.
 */
import { clientAuthKeyPair } from '#shared/crypto/onion.ts';
import { createUser } from '@nats-io/nkeys';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publish } from '../controller/apply/publish.ts';
import { kvStore } from '../controller/apply/store.ts';
import { openSession } from '../controller/bus/session.ts';
import { waitForConvergence } from '../controller/status/wait.ts';
import { startGateway } from '../controller/gateway/gateway.ts';
import { NatsServer } from '../controller/nats-server/server.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { writeNatsConfig } from '../controller/nats-server/sync.ts';
import { saveDevice, listDevices } from '../controller/state/devices.ts';
import { initState } from '../controller/state/keys.ts';
import { statePaths } from '../controller/state/paths.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { freePort } from '../test/support/processes.ts';

const AGENTS = 200;
const WORKERS = 4;
const HEARTBEAT_S = 30;

export async function converge(): Promise<Record<string, unknown>[]> {
  const paths = statePaths(join(mkdtempSync(join(tmpdir(), 'onionfleet-bench-converge-')), 'state'));
  const identity = await initState(paths, null);
  const agents: { device: string; signingSecretKey: string; ageIdentity: string; natsSeed: string }[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const device = `pi-${String(i).padStart(3, '0')}`;
    const signing = generateSigningKey();
    const age = await generateAgeIdentity();
    const nkey = createUser();
    agents.push({ device, signingSecretKey: signing.secretKey, ageIdentity: age.identity, natsSeed: new TextDecoder().decode(nkey.getSeed()) });
    await saveDevice(paths, { kind: 'onionfleet/enrollment', version: 1, device, signingKey: signing.publicKey, ageRecipient: age.recipient, natsUser: nkey.getPublicKey(), onionClientKey: clientAuthKeyPair().publicKeyBase32 });
  }
  const gatewayKey = createUser();
  await mkdir(paths.nats, { recursive: true });
  await writeFileAtomic(paths.natsGatewayUser, gatewayKey.getPublicKey());
  await writeNatsConfig(paths, await freePort());
  const server = await NatsServer.start({ configPath: paths.natsConfig, logFile: paths.natsLog });
  await writeFileAtomic(paths.natsRuntime, JSON.stringify({ url: server.url, port: server.port, pid: server.pid }));
  const workers: ChildProcess[] = [];
  try {
    const session = await openSession(paths, null, { create: true });
    // serve's gateway: the agents hear their desired states and send their statuses through it.
    const gatewayNc = await connectNats({ servers: server.url, nkeySeed: gatewayKey.getSeed(), name: 'gateway', timeoutMs: 10_000, reconnect: false });
    const gateway = await startGateway({ nc: gatewayNc, desired: session.desired, status: session.status, log: () => undefined, onJoin: () => Promise.resolve() });
    const per = AGENTS / WORKERS;
    const outputs: string[] = [];
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => new Promise<void>((resolve, reject) => {
      const input = { url: server.url, controller: { signingKey: identity.signingKey, ageRecipient: identity.ageRecipient }, agents: agents.slice(w * per, (w + 1) * per) };
      const child = spawn(process.execPath, ['--import', 'tsx', new URL('./converge-agents.ts', import.meta.url).pathname, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
      workers.push(child);
      outputs[w] = '';
      child.stdout.on('data', (b: Buffer) => {
        outputs[w] = (outputs[w] ?? '') + b.toString();
        if (outputs[w].includes('ready')) resolve();
      });
      child.on('exit', (code) => {
        reject(new Error(`worker exited ${code}`));
      });
    })));

    const spec = FleetSpec.parse({
      version: 1, fleet: 'bench',
      operators: [{ id: 'op' }],
      devices: agents.map((a) => ({ id: a.device, operator: 'op', location: `${a.device}-site`, jurisdiction: 'DE' })),
      groups: Array.from({ length: 20 }, (_, g) => ({ id: `g${g}`, tier: 'standard', smp: 10, xftp: 0, members: ['m'] })),
      members: [{ id: 'm', passphrase: true }],
    });
    const t0 = performance.now();
    const result = await publish({ own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets }, spec, await listDevices(paths));
    const waited = await waitForConvergence(session, await listDevices(paths), result.revisions, 60_000);
    const ms = performance.now() - t0;
    await gateway.stop();
    await gatewayNc.close();
    await session.close();

    const traffic = await Promise.all(workers.map((child, w) => new Promise<{ bytesIn: number; bytesOut: number }>((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', () => {
        const last = (outputs[w] ?? '').trim().split('\n').pop() ?? '{}';
        resolve(JSON.parse(last) as { bytesIn: number; bytesOut: number });
      });
      child.kill('SIGTERM');
    })));
    const bytesIn = traffic.reduce((n, t) => n + t.bytesIn, 0);
    const bytesOut = traffic.reduce((n, t) => n + t.bytesOut, 0);
    return [{
      agents: AGENTS,
      converged: waited.pending.length === 0,
      ms: Math.round(ms),
      bytesPerAgent: Math.round((bytesIn + bytesOut) / AGENTS),
      steadyBytesPerAgentPerMinute: Math.round((bytesOut / AGENTS) * (60 / HEARTBEAT_S)),
    }];
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await server.stop();
  }
}
