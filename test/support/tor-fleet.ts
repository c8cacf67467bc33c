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
  /** Each device's tor restarts after a crash (see superviseTor); a note per restart, for the test's output. */
  readonly torRestarts: string[] = [];
  #stopping = false;

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
      const lines = [`ClientOnionAuthDir ${clientAuth}`, `%include ${root}/etc/tor/torrc.d/*.conf`];
      const tor = await this.net.startTor({ name: id, dir: join(this.h.dir, 'devices', id, 'tor'), socks: true, waitForBootstrap: false, lines });
      await writeFileAtomic(this.pidFile(id), `${tor.pid}\n`);
      this.tors.set(id, tor);
      this.superviseTor(id, tor, lines);
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

  /**
   * What systemd does for tor@default on a Pi (Restart=on-failure): a device's tor that *crashed* is
   * started again — same directory, same SOCKS port, a new pid in the pid file the agent reads. Tor
   * 0.4.9 can crash (SIGSEGV in hs_circ_handle_introduce2) when an introduction arrives for an onion
   * service that a reload just removed, e.g. a retiring address at its date while clients still try
   * it. A tor killed on purpose (SIGKILL: a Pi that died) and the tors of a stopping fleet stay down.
   */
  private superviseTor(id: string, tor: TorProcess, lines: readonly string[]): void {
    void tor.exited().then(async () => {
      if (this.#stopping || tor.exitSignal === 'SIGKILL' || this.tors.get(id) !== tor) return;
      this.torRestarts.push(`${id}: tor (pid ${tor.pid}) exited (${tor.exitSignal ?? 'no signal'}); started again`);
      const again = await this.net.startTor({ name: id, dir: tor.dir, socks: tor.socksPort ?? true, waitForBootstrap: false, lines });
      await writeFileAtomic(this.pidFile(id), `${again.pid}\n`);
      this.tors.set(id, again);
      this.superviseTor(id, again, lines);
    }).catch((err: unknown) => { this.torRestarts.push(`${id}: tor not started again: ${err instanceof Error ? err.message : String(err)}`); });
  }

  /** Stops the agents, their servers, serve and every tor; throws when a tor outlives it. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.h.stop();
    await this.net.stop();
    const left = this.net.pids().filter(alive);
    if (left.length > 0) throw new Error(`tor processes still running: ${left.join(', ')}`);
  }

  private pidFile(id: string): string {
    return join(this.h.dir, 'devices', id, 'tor.pid');
  }
}
