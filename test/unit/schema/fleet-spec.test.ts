import { generateIdentity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { isAgeX25519Recipient, Sha256Hex } from '#shared/schema/common.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { RECIPIENT } from '../../builders/fleet.ts';

const minimal = {
  version: 1,
  fleet: 'f',
  operators: [{ id: 'o' }],
  devices: [{ id: 'pi', operator: 'o', location: 'home', jurisdiction: 'DE' }],
  groups: [{ id: 'g', tier: 'standard', members: ['m'] }],
  members: [{ id: 'm', passphrase: true }],
};

describe('FleetSpec', () => {
  it('fills in the defaults of docs/reference/fleet-yaml.md', () => {
    const spec = FleetSpec.parse(minimal);
    expect(spec.devices[0]).toMatchObject({ capacity: { maxInstances: 11, memoryMb: 4096 }, state: 'active' });
    expect(spec.groups[0]).toMatchObject({ smp: 10, xftp: 1, dedicated: false });
  });

  it('accepts the boundaries of the ranges and refuses one beyond', () => {
    const withGroup = (g: object) => FleetSpec.safeParse({ ...minimal, groups: [{ id: 'g', tier: 'high', members: [], ...g }] }).success;
    expect(withGroup({ smp: 1, xftp: 0 })).toBe(true);
    expect(withGroup({ smp: 64, xftp: 8 })).toBe(true);
    expect(withGroup({ smp: 0 })).toBe(false);
    expect(withGroup({ smp: 65 })).toBe(false);
    expect(withGroup({ xftp: 9 })).toBe(false);
  });

  it('accepts ids of 63 characters and refuses 64', () => {
    const id = (n: number) => `a${'b'.repeat(n - 1)}`;
    const parse = (op: string) => FleetSpec.safeParse({ ...minimal, operators: [{ id: op }], devices: [{ ...minimal.devices[0], operator: op }] }).success;
    expect(parse(id(63))).toBe(true);
    expect(parse(id(64))).toBe(false);
  });

  it('normalises SHA-256 digests to lower case', () => {
    expect(Sha256Hex.parse('AB'.repeat(32))).toBe('ab'.repeat(32));
  });
});

describe('age X25519 recipients', () => {
  it('accepts recipients made by age-encryption', async () => {
    for (let i = 0; i < 20; i++) expect(isAgeX25519Recipient(await identityToRecipient(await generateIdentity()))).toBe(true);
    expect(isAgeX25519Recipient(RECIPIENT)).toBe(true);
  });

  it('refuses a changed character, upper case, a secret key and other prefixes', () => {
    const flipped = RECIPIENT.slice(0, 20) + (RECIPIENT[20] === 'q' ? 'p' : 'q') + RECIPIENT.slice(21);
    expect(isAgeX25519Recipient(flipped)).toBe(false);
    expect(isAgeX25519Recipient(RECIPIENT.toUpperCase())).toBe(false);
    expect(isAgeX25519Recipient('AGE-SECRET-KEY-1QQQQ')).toBe(false);
    expect(isAgeX25519Recipient('ssh-ed25519 AAAA')).toBe(false);
    expect(isAgeX25519Recipient(RECIPIENT.slice(0, -1))).toBe(false);
  });
});
