/**
 * How the demo's agents reach the controller's NATS. Without Tor: straight over loopback, and this
 * step does nothing. The `--tor` variant (a private Tor network on loopback, `serve` behind an onion
 * service, agents through a SOCKS port) implements the same interface.
 */

/** The network step of the demo: started before `serve`, stopped after everything else. */
export interface DemoNetwork {
  /** One line for the progress output: what this network is. */
  readonly description: string;
  /** Starts whatever the network needs (nothing over loopback). */
  start(): Promise<void>;
  /** Extra arguments for `onionfleet serve` (e.g. to publish NATS as an onion service). */
  serveArgs(): readonly string[];
  /** The agent config's `nats` for a NATS server listening on `url` on this host. */
  agentNats(url: string): { readonly url: string; readonly socks?: string };
  /** Stops what {@link start} started. Never throws. */
  stop(): Promise<void>;
}

/** Loopback only: agents connect to `nats://127.0.0.1:<port>` directly. */
export function loopbackNetwork(): DemoNetwork {
  return {
    description: 'loopback only: agents reach NATS on 127.0.0.1 (with --tor, through a private Tor network: coming)',
    start: () => Promise.resolve(),
    serveArgs: () => [],
    agentNats: (url) => ({ url }),
    stop: () => Promise.resolve(),
  };
}
