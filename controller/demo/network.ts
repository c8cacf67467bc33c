/**
 * How the demo's agents reach the controller's NATS. Without Tor: straight over loopback, and the
 * network does nothing. The `--tor` variant (./tor-network.ts: a private Tor network on loopback,
 * `serve` behind an onion service, each Pi with its own tor) implements the same interface.
 *
 * Order of calls (run.ts): {@link DemoNetwork.start} before anything else (it returns at once, the
 * network comes up meanwhile); after `onionfleet init` {@link DemoNetwork.agentsNatsUrl};
 * {@link DemoNetwork.ready} before `serve` and before the first {@link DemoNetwork.device} (one per
 * Pi, before its `onionfleet-agent init`); {@link DemoNetwork.serveArgs} for `serve`;
 * {@link DemoNetwork.devicesReady} before the agents start; {@link DemoNetwork.stop} last of all.
 */
import type { LogLink } from './layout.ts';

/** What a Pi's agent config says about the network: its `nats`, and with Tor its `tor`. */
export interface DeviceNetwork {
  readonly nats: { readonly url: string; readonly socks?: string };
  readonly tor?: { readonly socks: string; readonly pidFile: string; readonly selfProbe: boolean };
}

/** The network step of the demo: started first, stopped after everything else. */
export interface DemoNetwork {
  /** One line for the progress output: what this network is. */
  readonly description: string;
  /** True for the private Tor network: `serve --tor`, agents through their tors, `probe` at the end. */
  readonly tor: boolean;
  /** Links below `logs/` to the logs of processes the network starts (tor's notice logs). */
  readonly logLinks: readonly LogLink[];
  /** Begins starting whatever the network needs (nothing over loopback); returns at once. */
  start(): void;
  /**
   * Resolves once the network is up. @throws what starting it failed with (an OperationFailedError),
   * or DemoInterrupted when the demo is interrupted meanwhile.
   */
  ready(): Promise<void>;
  /**
   * After `onionfleet init`: the NATS url the agents dial when the network fixes it before `serve`
   * runs (over Tor: the NATS onion's, its key made now in the controller's state), or null when it
   * is the address `serve` listens on. With a url the demo enrolls the Pis before `serve` starts.
   */
  agentsNatsUrl(): Promise<string | null>;
  /** Extra arguments for `onionfleet serve` (after {@link ready}; may write files the arguments name). */
  serveArgs(): Promise<readonly string[]>;
  /**
   * Starts what the Pi `id` needs (its own tor) and returns its agent config's network part; the
   * agents dial NATS at `natsUrl`. @throws OperationFailedError when that fails.
   */
  device(id: string, natsUrl: string): Promise<DeviceNetwork>;
  /** Resolves once every Pi's part is ready (their tors bootstrapped). @throws like {@link ready}. */
  devicesReady(): Promise<void>;
  /** Stops exactly what it started (also mid-start); resolves with how many processes were running. Never throws. */
  stop(): Promise<number>;
}

/** Loopback only: agents connect to `nats://127.0.0.1:<port>` directly. */
export function loopbackNetwork(): DemoNetwork {
  return {
    description: 'loopback only: agents reach NATS on 127.0.0.1 (with --tor: through a private Tor network and onion services)',
    tor: false,
    logLinks: [],
    start: () => undefined,
    ready: () => Promise.resolve(),
    agentsNatsUrl: () => Promise.resolve(null),
    serveArgs: () => Promise.resolve([]),
    device: (_id, natsUrl) => Promise.resolve({ nats: { url: natsUrl } }),
    devicesReady: () => Promise.resolve(),
    stop: () => Promise.resolve(0),
  };
}
