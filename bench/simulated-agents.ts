/**
 * Many simulated agents behind a loopback nats-server and `serve`'s gateway, for control-plane
 * benchmarks: the controller's state with N enrolled devices, and worker processes
 * (converge-agents.ts) that each run a share of the agents with a no-op reconciler.
 */
import { clientAuthKeyPair } from '#shared/crypto/onion.ts';
import { createUser } from '@nats-io/nkeys';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { openSession, type ControllerSession } from '../controller/bus/session.ts';
import { startGateway } from '../controller/gateway/gateway.ts';
import { NatsServer } from '../controller/nats-server/server.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { writeNatsConfig } from '../controller/nats-server/sync.ts';
import { saveDevice } from '../controller/state/devices.ts';
import { initState } from '../controller/state/keys.ts';
import { statePaths, type StatePaths } from '../controller/state/paths.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { freePort } from '../test/support/processes.ts';

export interface SimulatedFleet {
  readonly paths: StatePaths;
  readonly session: ControllerSession;
  readonly devices: readonly string[];
  /** Stops the workers (resolving with the bytes they sent and received), the gateway and the server. */
  stop(): Promise<{ bytesIn: number; bytesOut: number }>;
}

export async function simulatedFleet(count: number, workerCount: number, prefix = 'pi-'): Promise<SimulatedFleet> {
  const paths = statePaths(join(mkdtempSync(join(tmpdir(), 'onionfleet-bench-agents-')), 'state'));
  const identity = await initState(paths, null);
  const agents: { device: string; signingSecretKey: string; ageIdentity: string; natsSeed: string }[] = [];
  for (let i = 0; i < count; i++) {
    const device = `${prefix}${String(i).padStart(3, '0')}`;
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
  let gatewayNc: NatsConnection | null = null;
  try {
    const session = await openSession(paths, null, { create: true });
    // serve's gateway: the agents hear their desired states and send their statuses through it.
    const nc = await connectNats({ servers: server.url, nkeySeed: gatewayKey.getSeed(), name: 'gateway', timeoutMs: 10_000, reconnect: false });
    gatewayNc = nc;
    const gateway = await startGateway({ nc, desired: session.desired, status: session.status, log: () => undefined, onJoin: () => Promise.resolve() });
    const per = Math.ceil(count / workerCount);
    const outputs: string[] = [];
    await Promise.all(Array.from({ length: workerCount }, (_, w) => new Promise<void>((resolve, reject) => {
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
    const stop = async () => {
      await gateway.stop();
      await nc.close();
      await session.close();
      const traffic = await Promise.all(workers.map((child, w) => new Promise<{ bytesIn: number; bytesOut: number }>((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', () => {
          const last = (outputs[w] ?? '').trim().split('\n').pop() ?? '{}';
          resolve(JSON.parse(last) as { bytesIn: number; bytesOut: number });
        });
        child.kill('SIGTERM');
      })));
      await server.stop();
      return { bytesIn: traffic.reduce((n, t) => n + t.bytesIn, 0), bytesOut: traffic.reduce((n, t) => n + t.bytesOut, 0) };
    };
    return { paths, session, devices: agents.map((a) => a.device), stop };
  } catch (err) {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await gatewayNc?.close();
    await server.stop();
    throw err;
  }
}
