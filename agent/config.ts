/**
 * The agent's local configuration, owned by the device's operator (not by the controller):
 * where its root is, how services run, and the owner's limits that the agent enforces even against
 * a validly signed desired state.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { AgeRecipient, Id } from '#shared/schema/common.ts';
import { SigningPublicKey } from '#shared/schema/enrollment.ts';
import { loadJson } from '#shared/fs/load-json.ts';

export const DEFAULT_CONFIG_PATH = '/etc/onionfleet/agent.json';

export const OwnerLimits = z.strictObject({
  /** Most SMP + XFTP instances the owner lets this device run. */
  maxInstances: z.int().min(0).max(1024).optional(),
  /** Only these groups' instances (absent: any group). */
  allowedGroups: z.array(Id).optional(),
});
export type OwnerLimits = z.infer<typeof OwnerLimits>;

export const AgentConfig = z.strictObject({
  /** Every managed path is placed below this root ('/' on a Pi; a directory in tests and the demo). */
  root: z.string().regex(/^\//, { error: 'expected an absolute path' }).default('/'),
  /** systemd on a Pi; the built-in supervisor where there is no systemd. */
  services: z.enum(['systemd', 'supervisor']).optional(),
  /**
   * host: reload tor and sshd and load the firewall for real; sandbox: check them with their
   * validators and record the reload (a root other than '/').
   */
  system: z.enum(['host', 'sandbox']).optional(),
  /** Use these server binaries instead of the desired state's (tests use the SimpleX doubles). */
  binaries: z.strictObject({ 'smp-server': z.string().optional(), 'xftp-server': z.string().optional() }).default({}),
  /** SOCKS proxy for downloads (hostnames resolved by Tor). */
  socksProxy: z.string().default('socks5h://127.0.0.1:9050'),
  limits: OwnerLimits.default({}),
  /** This device's id (set by `onionfleet-agent init`). */
  device: Id.optional(),
  /** Where the device's private keys live, below the root. */
  keysDir: z.string().regex(/^\//).default('/etc/onionfleet/keys'),
  /** The controller's public keys: who may sign desired states, who reads the status. */
  controller: z.strictObject({ signingKey: SigningPublicKey, ageRecipient: AgeRecipient }).optional(),
  /** The controller's NATS: `nats://127.0.0.1:4222` in development, `nats://<56>.onion:4222` through Tor. */
  nats: z.strictObject({ url: z.string().regex(/^nats:\/\/[a-z0-9.-]+:\d{1,5}$/, { error: 'expected nats://HOST:PORT' }), socks: z.string().regex(/^[0-9.]+:\d{1,5}$/).default('127.0.0.1:9050') }).optional(),
  /**
   * This device's tor. `socks`: its SOCKS port (self-probes of the instances' onions). `pidFile`: in a
   * sandbox root (tests, the demo) the tor that serves this root's onions; the agent reloads it with
   * SIGHUP instead of `systemctl reload tor`. `clientAuthDir`: its ClientOnionAuthDir, below the root,
   * where the agent writes the key that opens the controller's NATS onion.
   */
  tor: z.strictObject({
    socks: z.string().regex(/^[0-9.]+:\d{1,5}$/, { error: 'expected HOST:PORT' }).default('127.0.0.1:9050'),
    pidFile: z.string().regex(/^\//, { error: 'expected an absolute path' }).optional(),
    clientAuthDir: z.string().regex(/^\//, { error: 'expected an absolute path' }).default('/var/lib/tor/onionfleet-client-auth'),
    /** Probe this device's own onions through `socks` once per heartbeat (status `onionProbe`); default: on for system 'host'. */
    selfProbe: z.boolean().optional(),
  }).default({ socks: '127.0.0.1:9050', clientAuthDir: '/var/lib/tor/onionfleet-client-auth' }),
  /**
   * Added to every instance's local port: for simulated devices sharing one host (tests, the demo).
   * The onion ports members use do not change. 0 on a real device.
   */
  portOffset: z.int().min(0).max(40_000).default(0),
  /** Status is re-put at least this often (the heartbeat). */
  heartbeatSeconds: z.int().min(1).max(3600).default(30),
  /**
   * Metrics (agent/metrics/): the servers rewrite their metrics file every `intervalSeconds`
   * (`prometheus_interval`; tiers without statistics get none), and the agent writes what it
   * collects, with its own figures, to `textfileDir` (below the root) for node_exporter's textfile collector.
   */
  metrics: z.strictObject({
    intervalSeconds: z.int().min(1).max(86_400).default(60),
    textfileDir: z.string().regex(/^\//, { error: 'expected an absolute path' }).default('/var/lib/onionfleet/metrics'),
  }).default({ intervalSeconds: 60, textfileDir: '/var/lib/onionfleet/metrics' }),
  /**
   * A new revision not healthy within this many seconds (or that failed to apply twice) is undone:
   * the agent goes back by itself to its last healthy revision (docs/rollouts.md).
   */
  revertAfterSeconds: z.int().min(1).max(86_400).default(300),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/** The config with everything resolved: services and system chosen from the machine when not set. */
export interface ResolvedConfig extends AgentConfig {
  readonly services: 'systemd' | 'supervisor';
  readonly system: 'host' | 'sandbox';
}

export function resolveConfig(config: AgentConfig): ResolvedConfig {
  const onHost = config.root === '/';
  return {
    ...config,
    services: config.services ?? (onHost && existsSync('/run/systemd/system') ? 'systemd' : 'supervisor'),
    system: config.system ?? (onHost ? 'host' : 'sandbox'),
  };
}

/** Reads the config file; a missing default file means the defaults. Throws InvalidInputError (exit 2). */
export async function loadAgentConfig(path: string | undefined, overrides: { root?: string } = {}): Promise<ResolvedConfig> {
  const base = path === undefined && !existsSync(DEFAULT_CONFIG_PATH) ? AgentConfig.parse({}) : await loadJson(path ?? DEFAULT_CONFIG_PATH, AgentConfig, 'an agent config');
  return resolveConfig(AgentConfig.parse({ ...base, ...(overrides.root === undefined ? {} : { root: overrides.root }) }));
}
