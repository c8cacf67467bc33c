/**
 * Builders for DesiredState documents with sensible defaults, so a test states only what it is about.
 * Everything is deterministic (passwords, ports, keys, onion hostnames derive from ids) and every
 * document is parsed by the schema, so a builder never hands a test something the agent would refuse.
 */
import { createHash } from 'node:crypto';
import { base32 } from '@scure/base';
import {
  DesiredInstance,
  DesiredState,
  hardeningFor,
  ONION_PORT,
  type InstanceKind,
} from '#shared/schema/desired-state.ts';
import type { Tier } from '#shared/schema/fleet-spec.ts';

/** First local port of each kind (as the controller's compiler assigns them). */
export const LOCAL_PORT_BASE = { smp: 15223, xftp: 18443 } as const;

export interface InstanceInput extends Partial<Omit<DesiredInstance, 'id' | 'kind'>> {
  /** Defaults to `newsroom`. */
  group?: string;
  /** Defaults to `standard`; the hardening follows the tier unless given. */
  tier?: Tier;
}

/** Instance `<group>-<kind>-NN` with the tier's hardening, a password derived from its id and port base + n − 1. */
export function instance(kind: InstanceKind, n: number, input: InstanceInput = {}): DesiredInstance {
  const group = input.group ?? 'newsroom';
  const tier = input.tier ?? 'standard';
  const id = `${group}-${kind}-${String(n).padStart(2, '0')}`;
  return DesiredInstance.parse({
    id,
    kind,
    group,
    tier,
    localPort: LOCAL_PORT_BASE[kind] + n - 1,
    onionPort: ONION_PORT[kind],
    password: `pw-${id}-S3cret`,
    ...(kind === 'xftp' ? { quota: '20gb' } : {}),
    hardening: hardeningFor(tier),
    ...input,
  });
}

export interface GroupInput {
  id: string;
  tier?: Tier;
  /** SMP instances, default 2. */
  smp?: number;
  /** XFTP instances, default 1. */
  xftp?: number;
}

export interface DesiredInput extends Partial<DesiredState> {
  /** Tier of the default single group `newsroom` (2 SMP + 1 XFTP); ignored when `groups` is given. */
  tier?: Tier;
  /** Groups whose instances the device holds; their ports are numbered across groups. */
  groups?: readonly GroupInput[];
  /** SSH over Tor; default: on when any instance is above the standard tier (as the compiler does). */
  overTor?: boolean;
  /** Names of SSH client-authorization keys (keys derived from the names). */
  clientAuth?: readonly string[];
}

/**
 * A parsed DesiredState for device `pi-test-1`. Instances come from `groups` (or one `newsroom` group
 * of `tier`) unless `instances` is given; the firewall's loopback-only ports are the instances'
 * local ports plus 22 with SSH over Tor, unless `firewall` is given. Any DesiredState field overrides.
 */
export function desiredState(input: DesiredInput = {}): DesiredState {
  const { tier, groups, overTor, clientAuth, ...overrides } = input;
  const instances = overrides.instances ?? instancesOf(groups ?? [{ id: 'newsroom', tier: tier ?? 'standard' }]);
  const ssh = overTor ?? instances.some((i) => i.tier !== 'standard');
  return DesiredState.parse({
    kind: 'onionfleet/desired-state',
    version: 1,
    fleet: 'test-fleet',
    device: 'pi-test-1',
    revision: 1,
    instances,
    ssh: { overTor: ssh, clientAuth: (clientAuth ?? []).map((name) => ({ name, publicKey: clientKey(name) })) },
    firewall: { loopbackOnlyPorts: [...instances.map((i) => i.localPort), ...(ssh ? [22] : [])].sort((a, b) => a - b) },
    tor: { socksPort: 9050 },
    binaries: { 'smp-server': { path: '/usr/local/bin/smp-server' }, 'xftp-server': { path: '/usr/local/bin/xftp-server' } },
    ...overrides,
  });
}

function instancesOf(groups: readonly GroupInput[]): DesiredInstance[] {
  const count = { smp: 0, xftp: 0 };
  const out: DesiredInstance[] = [];
  for (const g of groups) {
    for (const kind of ['smp', 'xftp'] as const) {
      const n = kind === 'smp' ? (g.smp ?? 2) : (g.xftp ?? 1);
      for (let k = 1; k <= n; k++) {
        count[kind]++;
        out.push(instance(kind, k, { group: g.id, tier: g.tier ?? 'standard', localPort: LOCAL_PORT_BASE[kind] + count[kind] - 1 }));
      }
    }
  }
  return out;
}

/** A deterministic x25519 public key as tor writes it in `.auth` files: 52 base32 characters. */
export function clientKey(name: string): string {
  return base32.encode(sha256(`client-auth:${name}`)).replace(/=+$/, '');
}

/**
 * A well-formed v3 onion hostname derived from `seed`: 56 characters of a-z2-7 with a valid
 * checksum and version byte (docs/reference/tor.md), then `.onion`. Not the address of any real key pair.
 */
export function onionHostname(seed: string): string {
  const pubkey = sha256(`onion:${seed}`);
  const version = Uint8Array.of(3);
  const checksum = createHash('sha3-256').update('.onion checksum').update(pubkey).update(version).digest().subarray(0, 2);
  return `${base32.encode(Buffer.concat([pubkey, checksum, version])).toLowerCase()}.onion`;
}

/** Instance id → onion hostname for every instance of `desired`, as the agent reads them from tor. */
export function hostsFor(desired: DesiredState): Map<string, string> {
  return new Map(desired.instances.map((i) => [i.id, onionHostname(i.id)]));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
