/**
 * fleet.yaml v1 — the user-facing contract of `docs/reference/fleet-yaml.md`.
 * Extend with optional fields only; never rename or change what is here.
 * Pure: no I/O. Parse with {@link FleetSpec}; cross-references are checked in the same pass.
 */
import { z } from 'zod';
import { AgeRecipient, FleetName, Id, Jurisdiction, Sha256Hex } from './common.ts';
import { CONTINUITY_DEFAULTS, GroupContinuity } from './continuity.ts';

export const TIERS = ['standard', 'elevated', 'high', 'extreme'] as const;
export const Tier = z.enum(TIERS);
export type Tier = z.infer<typeof Tier>;

export const DEVICE_STATES = ['active', 'draining', 'revoked'] as const;
export const DeviceState = z.enum(DEVICE_STATES);
export type DeviceState = z.infer<typeof DeviceState>;

export const Operator = z.strictObject({
  id: Id,
  name: z.string().min(1).max(200).optional(),
  recipient: AgeRecipient.optional(),
  contact: z.string().max(500).optional(),
});
export type Operator = z.infer<typeof Operator>;

export const Capacity = z.strictObject({
  maxInstances: z.int().min(0).max(1024).default(11),
  memoryMb: z.int().min(0).max(1_048_576).default(4096),
});

export const Device = z.strictObject({
  id: Id,
  operator: Id,
  location: Id,
  jurisdiction: Jurisdiction,
  capacity: Capacity.default({ maxInstances: 11, memoryMb: 4096 }),
  state: DeviceState.default('active'),
  labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, { error: 'expected a label name' }), z.string().max(256)).optional(),
});
export type Device = z.infer<typeof Device>;

export const Group = z.strictObject({
  id: Id,
  tier: Tier,
  smp: z.int().min(1).max(64).default(10),
  xftp: z.int().min(0).max(8).default(1),
  dedicated: z.boolean().default(false),
  members: z.array(Id).default([]),
  /** Extension of v1: storage quota of each XFTP instance (`xftp-server init -q`). */
  xftpQuota: z.string().regex(/^\d{1,6}(?:gb|mb)$/, { error: 'expected a quota such as 20gb or 500mb (lower case)' }).default('10gb'),
  /** Extension of v1: identity copies, backup interval, offline recipients (docs/continuity.md); tier defaults when absent. */
  continuity: GroupContinuity.optional(),
});
export type Group = z.infer<typeof Group>;

export const Member = z.strictObject({
  id: Id,
  recipient: AgeRecipient.optional(),
  passphrase: z.boolean().optional(),
});
export type Member = z.infer<typeof Member>;

const onionHttp = /^http:\/\/[a-z2-7]{56}\.onion(?::\d+)?\//;
const isDownloadUrl = (u: string) => URL.canParse(u) && (u.startsWith('https://') || onionHttp.test(u));
export const PinnedBinary = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+(?:[.-][0-9A-Za-z.-]+)?$/, { error: 'expected a version such as 6.5.0' }),
  url: z.string().refine(isDownloadUrl, { error: 'expected an https:// URL (plain http only to an .onion host)' }),
  sha256: Sha256Hex,
});
export type PinnedBinary = z.infer<typeof PinnedBinary>;

export const Binaries = z.strictObject({
  'smp-server': PinnedBinary.optional(),
  'xftp-server': PinnedBinary.optional(),
});

const FleetSpecShape = z.strictObject({
  version: z.literal(1, { error: 'expected 1 (the only fleet.yaml version)' }),
  fleet: FleetName,
  operators: z.array(Operator).default([]),
  devices: z.array(Device).default([]),
  groups: z.array(Group).default([]),
  members: z.array(Member).default([]),
  binaries: Binaries.optional(),
});

/** A parsed, cross-checked fleet.yaml. Defaults are filled in. */
export const FleetSpec = FleetSpecShape.check((ctx) => {
  const spec = ctx.value;
  const issue = (path: PropertyKey[], message: string) => {
    ctx.issues.push({ code: 'custom', message, path, input: undefined });
  };
  const unique = (kind: 'operators' | 'devices' | 'groups' | 'members') => {
    const seen = new Map<string, number>();
    spec[kind].forEach((item, i) => {
      const first = seen.get(item.id);
      if (first === undefined) seen.set(item.id, i);
      else issue([kind, i, 'id'], `duplicate id "${item.id}" (also at ${kind}[${first}])`);
    });
    return seen;
  };
  const operators = unique('operators');
  unique('devices');
  unique('groups');
  const members = unique('members');

  spec.devices.forEach((d, i) => {
    if (!operators.has(d.operator)) issue(['devices', i, 'operator'], `unknown operator "${d.operator}"`);
  });
  spec.groups.forEach((g, i) => {
    if (g.continuity?.identityCopies === false && g.continuity.offlineRecipients.length > 0) {
      issue(['groups', i, 'continuity', 'offlineRecipients'], 'has no use with identityCopies: false (no backup of the group\'s identities is made)');
    }
    if (g.continuity?.holdAtBoot !== undefined && !(g.continuity.identityCopies ?? CONTINUITY_DEFAULTS[g.tier].identityCopies)) {
      issue(['groups', i, 'continuity', 'holdAtBoot'], 'has no use without identity copies (nothing of the group is served elsewhere, so nothing is held at boot)');
    }
    if (g.continuity?.xftpFilesMaxBytes !== undefined && !(g.continuity.identityCopies ?? CONTINUITY_DEFAULTS[g.tier].identityCopies)) {
      issue(['groups', i, 'continuity', 'xftpFilesMaxBytes'], 'has no use without identity copies (no backup of the group\'s instances is made)');
    }
    const listed = new Set<string>();
    g.members.forEach((m, j) => {
      if (!members.has(m)) issue(['groups', i, 'members', j], `unknown member "${m}"`);
      if (listed.has(m)) issue(['groups', i, 'members', j], `member "${m}" is listed twice`);
      listed.add(m);
    });
  });
  spec.members.forEach((m, i) => {
    const byPassphrase = m.passphrase === true;
    if (byPassphrase && m.recipient !== undefined) {
      issue(['members', i], 'has both recipient and passphrase: true; give exactly one');
    } else if (!byPassphrase && m.recipient === undefined) {
      issue(['members', i], 'needs exactly one of recipient (age1…) or passphrase: true');
    }
  });
});
export type FleetSpec = z.infer<typeof FleetSpec>;
