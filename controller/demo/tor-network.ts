/**
 * The demo's `--tor` network, all on loopback: a private Tor network (DIR/tor/: 3 directory
 * authorities and 3 relays), `serve --tor` publishing NATS as an onion service with per-device
 * client authorization (that tor is serve's own, in DIR/controller/tor/), and per simulated Pi its
 * own tor (DIR/devices/<id>/tor/), which serves the onions the agent renders below the Pi's root and
 * carries the agent to the NATS onion with the device's own client key.
 *
 * The per-Pi recipe is the one the end-to-end suite proves (test/e2e/fleet-over-tor.test.ts): the
 * Pi's tor reads `ClientOnionAuthDir <root>/var/lib/tor/onionfleet-client-auth` (made 0700 before
 * tor starts; the agent writes its key there) and `%include <root>/etc/tor/torrc.d/*.conf` (the
 * agent renders its onion services there and SIGHUPs the pid in `tor.pidFile`); the agent reaches
 * NATS at the onion through the Pi's SOCKS port.
 *
 * Ordering: the network takes 45–90 s to come up, so {@link DemoNetwork.start} only begins it and
 * the demo plans and makes keys meanwhile; the Pis' tors start in parallel. Every tor is recorded
 * (demo.json) as it starts. {@link DemoNetwork.stop} stops exactly the tors this network started —
 * also while the network is still coming up, when they are not handed over yet: then its own
 * children below DIR/tor/ are stopped until the start gives up.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { ensureNatsOnion } from '../state/nats-onion.ts';
import { statePaths } from '../state/paths.ts';
import { TorControl } from '../tor/control-port.ts';
import { PrivateTorNetwork } from './private-tor/private-network.ts';
import { readTorRuntime } from '../tor/runtime.ts';
import type { TorProcess } from '../tor/tor-process.ts';
import type { DemoLayout, LogLink } from './layout.ts';
import type { DemoNetwork, DeviceNetwork } from './network.ts';
import { isRunning, ownChildrenBelow } from './own-children.ts';
import { DemoInterrupted } from './processes.ts';

/** What the `--tor` network needs from the demo. */
export interface TorNetworkOptions {
  readonly layout: DemoLayout;
  /** The simulated Pis (for their tors' log links). */
  readonly devices: readonly string[];
  /** The demo's Ctrl-C: every wait ends with DemoInterrupted. */
  readonly signal: AbortSignal;
  /** Progress lines (stderr). */
  readonly progress: (line: string) => void;
  /** Adds a tor this network started to the demo's pid record. */
  readonly record: (name: string, pid: number) => Promise<void>;
}

const AUTHORITIES = 3;
const RELAYS = 3;
const NETWORK_READY_MS = 180_000;
const BOOTSTRAP_MS = 120_000;
const STOP_STARTING_MS = 30_000;
const KILL_AFTER_MS = 10_000;
/** Below a Pi's root, as on a real Pi. */
const CLIENT_AUTH_DIR = 'var/lib/tor/onionfleet-client-auth';
const TORRC_D = 'etc/tor/torrc.d';

/** The `--tor` network; see the module comment. */
export function torNetwork(o: TorNetworkOptions): DemoNetwork {
  return new DemoTorNetwork(o);
}

/** The network's tors by name: `auth1`…, `relay1`… (PrivateTorNetwork starts them in this order). */
const NODES = [...Array.from({ length: AUTHORITIES }, (_, i) => `auth${i + 1}`), ...Array.from({ length: RELAYS }, (_, i) => `relay${i + 1}`)];

class DemoTorNetwork implements DemoNetwork {
  readonly description = `a private Tor network on 127.0.0.1 (${AUTHORITIES} authorities, ${RELAYS} relays; nothing leaves this machine): NATS as an onion service with per-device client authorization, each Pi with its own tor`;
  readonly tor = true;
  readonly logLinks: readonly LogLink[];
  readonly #o: TorNetworkOptions;
  readonly #torrc: string;
  #starting: Promise<PrivateTorNetwork> | null = null;
  #net: PrivateTorNetwork | null = null;
  #startedAt = 0;
  #announced = false;
  readonly #tors = new Map<string, TorProcess>();
  /** Pis' tors still starting: stop() waits for them, so none is started after it. */
  readonly #pending = new Set<Promise<unknown>>();
  #stopping = false;

  constructor(o: TorNetworkOptions) {
    this.#o = o;
    this.#torrc = join(o.layout.tor, 'network.conf');
    const { layout } = o;
    this.logLinks = [
      ...NODES.map((name) => ({ link: `tor/${name}.log`, target: join(layout.tor, name, 'notice.log') })),
      { link: 'tor/controller.log', target: join(statePaths(layout.controller).tor, 'notice.log') },
      ...o.devices.map((id) => ({ link: `tor/${id}.log`, target: join(layout.device(id).tor, 'notice.log') })),
    ];
  }

  start(): void {
    if (this.#starting !== null) return;
    this.#startedAt = Date.now();
    const { layout, progress } = this.#o;
    const starting = PrivateTorNetwork.start({
      dir: layout.tor, authorities: AUTHORITIES, relays: RELAYS, readyTimeoutMs: NETWORK_READY_MS,
      // Its milestones only: every node's bootstrap lines are in logs/tor/.
      onProgress: (line) => { if (line.startsWith('network: ')) progress(`      tor ${line}`); },
    });
    this.#starting = starting.then(async (net) => {
      this.#net = net;
      const pids = net.pids();
      for (const [i, pid] of pids.entries()) await this.#o.record(`tor-${NODES[i] ?? `node${i + 1}`}`, pid);
      return net;
    });
    this.#starting.catch(() => undefined); // ready() reports it
  }

  async ready(): Promise<void> {
    this.start();
    if (this.#net === null) this.#o.progress(`      waiting for the private Tor network (45–90 s; every tor's log in ${join(this.#o.layout.logs, 'tor')}/)…`);
    await abortable(this.#starting ?? Promise.reject(new Error('not started')), this.#o.signal);
    if (!this.#announced) this.#o.progress(`      the private Tor network serves onions (${seconds(this.#startedAt)} s after its start)`);
    this.#announced = true;
  }

  async agentsNatsUrl(): Promise<string> {
    // The NATS onion's key is born now (in the controller's state), so the agents' configs can name it.
    return (await ensureNatsOnion(statePaths(this.#o.layout.controller))).url;
  }

  async serveArgs(): Promise<readonly string[]> {
    await this.#network().writeNetworkTorrc(this.#torrc);
    return ['--tor', '--tor-config', this.#torrc];
  }

  async device(id: string, natsUrl: string): Promise<DeviceNetwork> {
    const net = this.#network();
    const paths = this.#o.layout.device(id);
    const clientAuth = join(paths.root, CLIENT_AUTH_DIR);
    await mkdir(clientAuth, { recursive: true, mode: 0o700 });
    await chmod(clientAuth, 0o700); // tor refuses a ClientOnionAuthDir others can read
    await mkdir(join(paths.root, TORRC_D), { recursive: true });
    if (this.#stopping || this.#o.signal.aborted) throw new DemoInterrupted();
    const starting = net.startTor({
      name: id, dir: paths.tor, socks: true, waitForBootstrap: false,
      lines: [`ClientOnionAuthDir ${clientAuth}`, `%include ${join(paths.root, TORRC_D)}/*.conf`],
    });
    this.#pending.add(starting);
    let tor: TorProcess;
    try {
      tor = await starting;
    } finally {
      this.#pending.delete(starting);
    }
    this.#tors.set(id, tor);
    await this.#o.record(`tor-${id}`, tor.pid);
    await writeFileAtomic(paths.torPid, `${tor.pid}\n`);
    const socks = `127.0.0.1:${tor.socksPort ?? 0}`;
    return { nats: { url: natsUrl, socks }, tor: { socks, pidFile: paths.torPid, selfProbe: true } };
  }

  async devicesReady(): Promise<void> {
    const started = Date.now();
    await abortable(Promise.all([...this.#tors.values()].map((t) => t.waitBootstrapped(BOOTSTRAP_MS))), this.#o.signal);
    this.#o.progress(`      every Pi's tor bootstrapped (${seconds(started)} s)`);
  }

  async stop(): Promise<number> {
    this.#stopping = true;
    let stopped = 0;
    if (this.#starting !== null && this.#net === null) stopped += await this.#stopStarting(this.#starting);
    await Promise.allSettled([...this.#pending]);
    const net = this.#net;
    if (net !== null) {
      for (const pid of net.pids()) if (await isRunning(pid)) stopped++;
      await net.stop();
    }
    return stopped;
  }

  /**
   * The network is still coming up and has handed over no tor yet: stops this process's children
   * below DIR/tor/ (tors, key tools) until the start gives up — or succeeds, and stop() stops it
   * the ordinary way. Records each in demo.json first. How many it stopped.
   */
  async #stopStarting(starting: Promise<PrivateTorNetwork>): Promise<number> {
    const state = { settled: false };
    const settled = starting.then(() => { state.settled = true; }, () => { state.settled = true; });
    const signalled = new Map<number, number>(); // pid → when first signalled
    const deadline = Date.now() + STOP_STARTING_MS;
    while (!state.settled && Date.now() < deadline) {
      for (const child of await ownChildrenBelow(this.#o.layout.tor)) {
        const first = signalled.get(child.pid);
        if (first === undefined) {
          signalled.set(child.pid, Date.now());
          await this.#o.record(`tor-network-starting-${child.argv[0]?.split('/').pop() ?? 'tor'}`, child.pid).catch(() => undefined);
        }
        kill(child.pid, first !== undefined && Date.now() - first > KILL_AFTER_MS ? 'SIGKILL' : 'SIGTERM');
      }
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    return signalled.size;
  }

  #network(): PrivateTorNetwork {
    if (this.#net === null) throw new OperationFailedError('demo-tor-not-ready', 'the private Tor network is not up yet');
    return this.#net;
  }
}

/**
 * `SIGNAL NEWNYM` to the controller's tor: it drops its onion-service client state (cached
 * descriptors, the HSDirs it already asked), so the next probe fetches each Pi's descriptor afresh
 * instead of retrying one fetched before the Pi's tor had published (controller/tor/README.md).
 * Best effort: the next probe runs either way.
 */
export async function forgetOnions(controller: string): Promise<void> {
  const tor = await readTorRuntime(statePaths(controller));
  if (tor === null) return;
  try {
    const control = await TorControl.connect(tor.controlPort);
    try {
      await control.signal('NEWNYM');
    } finally {
      control.close();
    }
  } catch {
    // the probe reports what it finds
  }
}

/** `promise`, or DemoInterrupted as soon as `signal` aborts (the promise's own outcome is then ignored). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(new DemoInterrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => { reject(new DemoInterrupted()); };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort); });
  });
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(0);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
