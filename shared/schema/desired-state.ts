/**
 * What one device must run: compiled by the controller from the spec and the placement, applied by
 * the agent. Signed and encrypted on the bus (a later issue); here, the document itself. Pure.
 */
import { z } from 'zod';
import { FleetName, Id } from './common.ts';
import { PinnedBinary, Tier } from './fleet-spec.ts';
import { InstanceContinuity } from './continuity.ts';
import { InstanceIdentity } from './identity.ts';

export const InstanceKind = z.enum(['smp', 'xftp']);
export type InstanceKind = z.infer<typeof InstanceKind>;

/** `<group>-smp-NN` / `<group>-xftp-NN` (docs/reference/fleet-yaml.md). */
export const InstanceId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}-(?:smp|xftp)-\d{2,}$/, {
  error: 'expected an instance id such as newsroom-smp-01',
});

/** Passwords the SimpleX servers accept: printable ASCII without whitespace, `@`, `:` or `/`. */
export const ServerPassword = z.string().regex(/^[!-~]{16,128}$/, { error: 'expected 16-128 printable ASCII characters' }).refine(
  (p) => !/[@:/]/.test(p),
  { error: 'must not contain "@", ":" or "/"' },
);

/** The onion virtual ports members use (addresses carry no port). */
export const ONION_PORT = { smp: 5223, xftp: 443 } as const;

/** The tier's hardening for one instance (docs/reference/fleet-yaml.md, "Hardening each tier turns on"). */
export const InstanceHardening = z.strictObject({
  /** `HiddenServiceEnableIntroDoSDefense 1` on the instance's onion. */
  introDosDefense: z.boolean(),
  /** `HiddenServicePoWDefensesEnabled 1` on the instance's onion. */
  powDefense: z.boolean(),
  /** `HiddenServiceMaxStreams N` and `HiddenServiceMaxStreamsCloseCircuit 1`; null: tor's default. */
  maxStreams: z.int().min(1).max(65535).nullable(),
  /** `log_stats: off` and no `prometheus_interval`. */
  noStatistics: z.boolean(),
  /** SMP `expire_messages_days` (21 by default, 2 at the extreme tier). */
  expireMessagesDays: z.int().min(1).max(365),
  /** XFTP `expire_files_hours`. */
  expireFilesHours: z.int().min(1).max(8760),
  /**
   * Nothing leaves the device but through tor: the firewall lets only `debian-tor` (and loopback) open
   * connections off the device, and SMP private routing goes through tor to every server
   * (`[PROXY] socks_mode: always`). The high and extreme tiers.
   */
  torOnlyEgress: z.boolean(),
  /** `VanguardsLiteEnabled 1`: tor's built-in vanguards-lite for the device's onion services. The high and extreme tiers. */
  vanguardsLite: z.boolean(),
});
export type InstanceHardening = z.infer<typeof InstanceHardening>;

export const DesiredInstance = z
  .strictObject({
    id: InstanceId,
    kind: InstanceKind,
    group: Id,
    tier: Tier,
    /** The port the server listens on (all interfaces; the firewall drops it except on loopback). */
    localPort: z.int().min(1024).max(65535),
    /** SMP 5223, XFTP 443: what the onion service publishes. */
    onionPort: z.union([z.literal(ONION_PORT.smp), z.literal(ONION_PORT.xftp)]),
    /** `[AUTH] create_password` (SMP: also in members' addresses). */
    password: ServerPassword,
    /** XFTP storage quota (`20gb`, `500mb`); only for XFTP. */
    quota: z.string().regex(/^\d{1,6}(?:gb|mb)$/, { error: 'expected a quota such as 20gb or 500mb' }).optional(),
    hardening: InstanceHardening,
    /** Backups of this instance (absent: none, as before continuity existed). */
    continuity: InstanceContinuity.optional(),
    /**
     * The identity this device must serve instead of making one: given when the instance moves here
     * and keeps its address (docs/continuity.md). Absent: the device makes (or keeps) its own.
     */
    identity: InstanceIdentity.optional(),
  })
  .check((ctx) => {
    const i = ctx.value;
    if (i.identity !== undefined && (i.identity.instance !== i.id || i.identity.kind !== i.kind || i.identity.password !== i.password)) {
      ctx.issues.push({ code: 'custom', message: 'must be this instance\'s identity (id, kind and password)', path: ['identity'], input: undefined });
    }
    if (i.onionPort !== ONION_PORT[i.kind]) ctx.issues.push({ code: 'custom', message: `must be ${ONION_PORT[i.kind]} for ${i.kind}`, path: ['onionPort'], input: i.onionPort });
    if ((i.kind === 'xftp') !== (i.quota !== undefined)) {
      ctx.issues.push({ code: 'custom', message: 'XFTP instances need a quota; SMP instances have none', path: ['quota'], input: i.quota });
    }
    if (!i.id.startsWith(`${i.group}-${i.kind}-`)) ctx.issues.push({ code: 'custom', message: `must be ${i.group}-${i.kind}-NN`, path: ['id'], input: i.id });
  });
export type DesiredInstance = z.infer<typeof DesiredInstance>;

/** An x25519 client-authorization key for an onion service (docs/reference/tor.md): 52 base32 characters. */
export const OnionClientKey = z.strictObject({
  name: Id,
  publicKey: z.string().regex(/^[A-Z2-7]{52}$/, { error: 'expected a 52-character base32 x25519 public key' }),
});
export type OnionClientKey = z.infer<typeof OnionClientKey>;

export const DeviceSsh = z.strictObject({
  /** sshd only on 127.0.0.1, keys only, reachable only through its own onion. */
  overTor: z.boolean(),
  /** Clients allowed to fetch the SSH onion's descriptor (empty: no client authorization yet). */
  clientAuth: z.array(OnionClientKey).default([]),
});

/**
 * Where the agent runs a server from: always `/usr/local/bin/<name>`. The path is fixed, not free:
 * a pinned download replaces the file at `path` as root, so a free path would let whoever holds the
 * controller's key overwrite any file on a device.
 */
export const BINARY_DIR = '/usr/local/bin';

function binarySource(name: 'smp-server' | 'xftp-server') {
  return z.strictObject({
    path: z.string().refine((p) => p === `${BINARY_DIR}/${name}`, { error: `expected ${BINARY_DIR}/${name} (the only place the agent installs ${name})` }),
    /** Download over Tor, pinned by SHA-256, when the file at `path` is missing or differs. */
    pin: PinnedBinary.optional(),
  });
}

export const BinarySource = z.union([binarySource('smp-server'), binarySource('xftp-server')]);
export type BinarySource = z.infer<typeof BinarySource>;

/**
 * An instance whose address was rotated (`onionfleet rotate`): its old identity keeps running on
 * the same device, from `<id>-retiring` directories, until `until` — the retire date the bundle
 * announces — then the agent stops and archives it by itself (docs/continuity.md).
 */
export const RetiringInstance = z.strictObject({
  /** The old instance as it ran (its password), with a local port of its own. */
  instance: DesiredInstance,
  /** The old identity's fingerprint: the agent moves aside only the identity that has it. */
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{43}=$/),
  until: z.iso.datetime(),
});
export type RetiringInstance = z.infer<typeof RetiringInstance>;

export const DesiredState = z
  .strictObject({
    kind: z.literal('onionfleet/desired-state'),
    version: z.literal(1),
    fleet: FleetName,
    device: Id,
    /** Monotonic per device: an agent refuses a lower revision than the one it applied. */
    revision: z.int().min(1),
    instances: z.array(DesiredInstance),
    ssh: DeviceSsh,
    /** Ports dropped by the firewall on every interface but loopback. */
    firewall: z.strictObject({ loopbackOnlyPorts: z.array(z.int().min(1).max(65535)) }),
    tor: z.strictObject({ socksPort: z.int().min(1).max(65535) }),
    binaries: z.strictObject({ 'smp-server': binarySource('smp-server'), 'xftp-server': binarySource('xftp-server') }),
    /** Rotated instances still serving their old address until their retire date (absent: none). */
    retiring: z.array(RetiringInstance).optional(),
  })
  .check((ctx) => {
    const seenIds = new Set<string>();
    const seenPorts = new Set<number>();
    for (const r of ctx.value.retiring ?? []) {
      if (seenPorts.has(r.instance.localPort)) ctx.issues.push({ code: 'custom', message: `local port ${r.instance.localPort} used twice`, path: ['retiring'], input: r.instance.localPort });
      seenPorts.add(r.instance.localPort);
    }
    ctx.value.instances.forEach((i, k) => {
      if (seenIds.has(i.id)) ctx.issues.push({ code: 'custom', message: `duplicate instance "${i.id}"`, path: ['instances', k, 'id'], input: i.id });
      if (seenPorts.has(i.localPort)) ctx.issues.push({ code: 'custom', message: `local port ${i.localPort} used twice`, path: ['instances', k, 'localPort'], input: i.localPort });
      seenIds.add(i.id);
      seenPorts.add(i.localPort);
    });
  });
export type DesiredState = z.infer<typeof DesiredState>;

/** The hardening a tier turns on (docs/reference/fleet-yaml.md). */
export function hardeningFor(tier: Tier): InstanceHardening {
  const elevated = tier !== 'standard';
  const extreme = tier === 'extreme';
  const high = tier === 'high' || extreme;
  return {
    introDosDefense: elevated,
    powDefense: elevated,
    maxStreams: elevated ? 32 : null,
    noStatistics: extreme,
    expireMessagesDays: extreme ? 2 : 21,
    expireFilesHours: 48,
    torOnlyEgress: high,
    vanguardsLite: high,
  };
}
