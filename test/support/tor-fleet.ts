/**
 * A FleetHarness over real onions: a private Tor network on loopback, the controller's `serve --tor`
 * (NATS published as an onion with client authorization), and per simulated Pi its own tor — which
 * serves the onions the agent renders below its root, and carries the agent to the NATS onion with
 * the device's own client key. Used by the end-to-end suite and the converge-tor benchmark.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateTorNetwork } from '../../controller/demo/private-tor/private-network.ts';
import type { TorProcess } from '../../controller/tor/tor-process.ts';
import { ensureNatsOnion, type NatsOnion } from '../../controller/state/nats-onion.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { alive } from './processes.ts';
import { FleetHarness } from './fleet-harness.ts';

export class TorFleet {
  readonly tors = new Map<string, TorProcess>();

  private constructor(readonly h: FleetHarness, readonly net: PrivateTorNetwork, readonly natsOnion: NatsOnion) {}

  /** The network, then `serve --tor`; resolves once both run (the network serves onions). */
  static async start(onProgress: (line: string) => void = () => undefined): Promise<TorFleet> {
    const h = await FleetHarness.create();
    const net = await PrivateTorNetwork.start({ dir: join(h.dir, 'tor-network'), onProgress });
    try {
      const networkTorrc = join(h.dir, 'tor-network.conf');
      await net.writeNetworkTorrc(networkTorrc);
      const natsOnion = await ensureNatsOnion(statePaths(h.state));
      await h.startServe('--tor', '--tor-config', networkTorrc);
      return new TorFleet(h, net, natsOnion);
    } catch (err) {
      await h.stop();
      await net.stop();
      throw err;
    }
  }

  /**
   * Starts each device's tor (in parallel), enrolls the devices with agent configs that reach NATS
   * only through the NATS onion, waits until every tor has bootstrapped, and starts the agents.
   */
  async addDevices(ids: readonly string[], extra: Record<string, unknown> = {}): Promise<void> {
    await Promise.all(ids.map(async (id) => {
      const root = join(this.h.dir, 'devices', id, 'root');
      const clientAuth = join(root, 'var/lib/tor/onionfleet-client-auth');
      mkdirSync(clientAuth, { recursive: true, mode: 0o700 });
      mkdirSync(join(root, 'etc/tor/torrc.d'), { recursive: true });
      const tor = await this.net.startTor({
        name: id, dir: join(this.h.dir, 'devices', id, 'tor'), socks: true, waitForBootstrap: false,
        lines: [`ClientOnionAuthDir ${clientAuth}`, `%include ${root}/etc/tor/torrc.d/*.conf`],
      });
      await writeFileAtomic(this.pidFile(id), `${tor.pid}\n`);
      this.tors.set(id, tor);
    }));
    for (const id of ids) {
      const socks = `127.0.0.1:${this.tor(id).socksPort ?? 0}`;
      await this.h.enroll(id, {
        nats: { url: this.natsOnion.url, socks },
        tor: { socks, pidFile: this.pidFile(id), selfProbe: true },
        heartbeatSeconds: 10,
        ...extra,
      });
    }
    await Promise.all(ids.map((id) => this.tor(id).waitBootstrapped(180_000)));
    for (const id of ids) this.h.startAgent(id);
  }

  tor(id: string): TorProcess {
    const tor = this.tors.get(id);
    if (tor === undefined) throw new Error(`no tor for ${id}`);
    return tor;
  }

  /** Stops the agents, their servers, serve and every tor; throws when a tor outlives it. */
  async stop(): Promise<void> {
    await this.h.stop();
    await this.net.stop();
    const left = this.net.pids().filter(alive);
    if (left.length > 0) throw new Error(`tor processes still running: ${left.join(', ')}`);
  }

  private pidFile(id: string): string {
    return join(this.h.dir, 'devices', id, 'tor.pid');
  }
}
