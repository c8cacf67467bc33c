/**
 * Compiles the fleet spec and a placement into one DesiredState per device (see README.md). Pure.
 */
import { DesiredState, hardeningFor, ONION_PORT, type DesiredInstance, type OnionClientKey } from '#shared/schema/desired-state.ts';
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
    const instances = compileInstances(byDevice.get(device.id) ?? [], groups, prev, input);
    const overTor = instances.some((i) => i.tier !== 'standard');
    const body = {
      kind: 'onionfleet/desired-state' as const,
      version: 1 as const,
      fleet: spec.fleet,
      device: device.id,
      instances,
      ssh: { overTor, clientAuth: overTor ? [...(input.sshClientAuth ?? prev?.ssh.clientAuth ?? [])] : [] },
      firewall: { loopbackOnlyPorts: [...instances.map((i) => i.localPort), ...(overTor ? [22] : [])].sort((a, b) => a - b) },
      tor: { socksPort: TOR_SOCKS_PORT },
      binaries: {
        'smp-server': { path: BINARY_PATH['smp-server'], ...(spec.binaries?.['smp-server'] ? { pin: spec.binaries['smp-server'] } : {}) },
        'xftp-server': { path: BINARY_PATH['xftp-server'], ...(spec.binaries?.['xftp-server'] ? { pin: spec.binaries['xftp-server'] } : {}) },
      },
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
  input: Pick<CompileInput, 'randomBytes' | 'controllerRecipient' | 'identities'>,
): DesiredInstance[] {
  const before = new Map((prev?.instances ?? []).map((i) => [i.id, i]));
  const sorted = [...placed].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  // Kept instances first claim their ports, so a new one never takes a port that stays in use.
  const used = new Set<number>();
  for (const p of sorted) {
    const old = before.get(p.instance);
    if (old !== undefined && old.kind === p.kind) used.add(old.localPort);
  }
  return sorted.map((p): DesiredInstance => {
    const group = groups.get(p.group);
    if (group === undefined) throw new InternalError(`placement names unknown group ${p.group}`);
    const old = before.get(p.instance);
    const localPort = old !== undefined && old.kind === p.kind ? old.localPort : freePort(p.kind, used);
    used.add(localPort);
    const continuity = input.controllerRecipient === undefined ? undefined : resolveContinuity(group.tier, group.continuity, input.controllerRecipient);
    const given = old === undefined && continuity?.identityCopies === true ? input.identities?.get(p.instance) : undefined;
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

function freePort(kind: 'smp' | 'xftp', used: ReadonlySet<number>): number {
  for (let port = LOCAL_PORT_BASE[kind]; port < LOCAL_PORT_BASE[kind] + PORT_RANGE; port++) if (!used.has(port)) return port;
  throw new InternalError(`no free ${kind} port between ${LOCAL_PORT_BASE[kind]} and ${LOCAL_PORT_BASE[kind] + PORT_RANGE - 1}`);
}

/** 32 characters of base64url from 24 random bytes: within what the servers allow (no @ : / or space). */
function newPassword(randomBytes: (n: number) => Uint8Array): string {
  return Buffer.from(randomBytes(24)).toString('base64url');
}
