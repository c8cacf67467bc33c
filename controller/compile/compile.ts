/**
 * Compiles the fleet spec and a placement into one DesiredState per device (see README.md). Pure.
 */
import { DesiredState, hardeningFor, ONION_PORT, type DesiredInstance, type OnionClientKey, type RetiringInstance } from '#shared/schema/desired-state.ts';
import type { FleetSpec, Group } from '#shared/schema/fleet-spec.ts';
import { resolveContinuity } from '#shared/schema/continuity.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import type { Placement } from '../planner/index.ts';
import { InternalError } from '#shared/errors.ts';

export const LOCAL_PORT_BASE = { smp: 15223, xftp: 18443 } as const;
const PORT_RANGE = 1100; // more than the most instances a device may hold (maxInstances ≤ 1024)
export const BINARY_PATH = { 'smp-server': '/usr/local/bin/smp-server', 'xftp-server': '/usr/local/bin/xftp-server' } as const;
const TOR_SOCKS_PORT = 9050;

export interface CompileInput {
  readonly spec: FleetSpec;
  readonly placement: readonly Placement[];
  /** The last desired state of each device, if any: passwords, ports and revisions carry over. */
  readonly previous: ReadonlyMap<string, DesiredState>;
  /** Cryptographically random bytes (the shell passes node:crypto's randomBytes). */
  readonly randomBytes: (n: number) => Uint8Array;
  /**
   * Who may open the devices' SSH onions (v3 client authorization): the admin's x25519 public key,
   * named `admin`. Absent: the previous document's list is kept.
   */
  readonly sshClientAuth?: readonly OnionClientKey[];
  /** The controller's age recipient: each instance then carries its group's continuity (docs/continuity.md). */
  readonly controllerRecipient?: string;
  /**
   * Identities to give instances that are new on their device and keep their address (the shell
   * picks them: groups that allow copies, moves that are not a compromise, the newest good backup).
   * Given with the epoch raised by one; kept as long as the instance stays on that device.
   */
  readonly identities?: ReadonlyMap<string, InstanceIdentity>;
  /**
   * Rotations (`onionfleet rotate`) by instance: an unpublished one gives the instance a new identity
   * (new password, no identity carried; the device makes a new onion and certificates) and keeps the
   * old one running as retiring until `until`.
   */
  readonly rotations?: ReadonlyMap<string, { readonly fingerprint: string; readonly until: string; readonly published: boolean }>;
  /** Now (ISO 8601): retiring instances past their date are dropped. Absent: none is dropped. */
  readonly now?: string;
}

/** Desired states for every device of the spec except revoked ones, by device id. */
export function compileDesired(input: CompileInput): Map<string, DesiredState> {
  const { spec, placement } = input;
  const groups = new Map(spec.groups.map((g) => [g.id, g]));
  const byDevice = new Map<string, Placement[]>();
  for (const p of placement) byDevice.set(p.device, [...(byDevice.get(p.device) ?? []), p]);
  const out = new Map<string, DesiredState>();
  for (const device of spec.devices) {
    if (device.state === 'revoked') continue;
    const prev = input.previous.get(device.id) ?? null;
    const keptRetiring = (prev?.retiring ?? []).filter((r) => input.now === undefined || Date.parse(r.until) > Date.parse(input.now));
    const instances = compileInstances(byDevice.get(device.id) ?? [], groups, prev, input, new Set(keptRetiring.map((r) => r.instance.localPort)));
    const retiring = [...keptRetiring, ...newRetiring(instances, prev, keptRetiring, input.rotations)];
    const overTor = instances.some((i) => i.tier !== 'standard');
    const body = {
      kind: 'onionfleet/desired-state' as const,
      version: 1 as const,
      fleet: spec.fleet,
      device: device.id,
      instances,
      ssh: { overTor, clientAuth: overTor ? [...(input.sshClientAuth ?? prev?.ssh.clientAuth ?? [])] : [] },
      firewall: { loopbackOnlyPorts: [...instances.map((i) => i.localPort), ...retiring.map((r) => r.instance.localPort), ...(overTor ? [22] : [])].sort((a, b) => a - b) },
      tor: { socksPort: TOR_SOCKS_PORT },
      binaries: {
        'smp-server': { path: BINARY_PATH['smp-server'], ...(spec.binaries?.['smp-server'] ? { pin: spec.binaries['smp-server'] } : {}) },
        'xftp-server': { path: BINARY_PATH['xftp-server'], ...(spec.binaries?.['xftp-server'] ? { pin: spec.binaries['xftp-server'] } : {}) },
      },
      ...(retiring.length === 0 ? {} : { retiring }),
    };
    // Parsing puts keys in schema order, so equal documents serialise equally.
    const same = prev !== null ? DesiredState.parse({ ...body, revision: prev.revision }) : null;
    const unchanged = same !== null && JSON.stringify(same) === JSON.stringify(DesiredState.parse(prev));
    out.set(device.id, unchanged ? same : DesiredState.parse({ ...body, revision: prev === null ? 1 : prev.revision + 1 }));
  }
  return out;
}

function compileInstances(
  placed: readonly Placement[],
  groups: ReadonlyMap<string, Group>,
  prev: DesiredState | null,
  input: Pick<CompileInput, 'randomBytes' | 'controllerRecipient' | 'identities' | 'rotations'>,
  reserved: ReadonlySet<number>,
): DesiredInstance[] {
  const before = new Map((prev?.instances ?? []).map((i) => [i.id, i]));
  const sorted = [...placed].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  // Kept instances first claim their ports, so a new one never takes a port that stays in use.
  const used = new Set<number>(reserved);
  for (const p of sorted) {
    const old = before.get(p.instance);
    if (old !== undefined && old.kind === p.kind) used.add(old.localPort);
  }
  return sorted.map((p): DesiredInstance => {
    const group = groups.get(p.group);
    if (group === undefined) throw new InternalError(`placement names unknown group ${p.group}`);
    const rotating = input.rotations?.get(p.instance)?.published === false && before.has(p.instance);
    const old = rotating ? undefined : before.get(p.instance);
    const kept = before.get(p.instance);
    const localPort = kept !== undefined && kept.kind === p.kind ? kept.localPort : freePort(p.kind, used);
    used.add(localPort);
    const continuity = input.controllerRecipient === undefined ? undefined : resolveContinuity(group.tier, group.continuity, input.controllerRecipient);
    const given = !rotating && old === undefined && continuity?.identityCopies === true ? input.identities?.get(p.instance) : undefined;
    const identity = old !== undefined ? old.identity : given === undefined || given.kind !== p.kind ? undefined : { ...given, epoch: given.epoch + 1 };
    return {
      id: p.instance,
      kind: p.kind,
      group: p.group,
      tier: group.tier,
      localPort,
      onionPort: ONION_PORT[p.kind],
      password: identity?.password ?? old?.password ?? newPassword(input.randomBytes),
      ...(p.kind === 'xftp' ? { quota: group.xftpQuota } : {}),
      hardening: hardeningFor(group.tier),
      ...(continuity === undefined ? {} : { continuity }),
      ...(identity === undefined ? {} : { identity }),
    };
  });
}

/**
 * The retiring entries a publish adds: each instance of `prev` whose rotation is not published yet
 * keeps its old self (password, hardening; no identity or continuity) on a port of its own.
 */
function newRetiring(instances: readonly DesiredInstance[], prev: DesiredState | null, kept: readonly RetiringInstance[], rotations: CompileInput['rotations']): RetiringInstance[] {
  if (prev === null || rotations === undefined) return [];
  const used = new Set([...instances.map((i) => i.localPort), ...kept.map((r) => r.instance.localPort)]);
  const out: RetiringInstance[] = [];
  for (const old of prev.instances) {
    const r = rotations.get(old.id);
    if (r === undefined || r.published || !instances.some((i) => i.id === old.id) || kept.some((k) => k.instance.id === old.id)) continue;
    const localPort = freePort(old.kind, used);
    used.add(localPort);
    const plain: DesiredInstance = { ...old, localPort };
    delete plain.identity;
    delete plain.continuity;
    out.push({ instance: plain, fingerprint: r.fingerprint, until: r.until });
  }
  return out;
}

function freePort(kind: 'smp' | 'xftp', used: ReadonlySet<number>): number {
  for (let port = LOCAL_PORT_BASE[kind]; port < LOCAL_PORT_BASE[kind] + PORT_RANGE; port++) if (!used.has(port)) return port;
  throw new InternalError(`no free ${kind} port between ${LOCAL_PORT_BASE[kind]} and ${LOCAL_PORT_BASE[kind] + PORT_RANGE - 1}`);
}

/** 32 characters of base64url from 24 random bytes: within what the servers allow (no @ : / or space). */
function newPassword(randomBytes: (n: number) => Uint8Array): string {
  return Buffer.from(randomBytes(24)).toString('base64url');
}
