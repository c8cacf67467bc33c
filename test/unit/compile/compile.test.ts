import { describe, expect, it } from 'vitest';
import { compileDesired } from '../../../controller/compile/index.ts';
import { plan } from '../../../controller/planner/index.ts';
import { ServerPassword } from '#shared/schema/desired-state.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { devicesOf, fleet } from '../../builders/fleet.ts';

/** Deterministic "random" bytes, so tests can tell new passwords from kept ones. */
function counterBytes(start = 0) {
  let next = start;
  return (n: number) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

function compile(spec: FleetSpec, previous = new Map(), start = 0) {
  const placement = plan(spec, null).placement;
  return compileDesired({ spec, placement, previous, randomBytes: counterBytes(start) });
}

describe('compileDesired', () => {
  const spec = fleet([{ id: 'pi', operator: 'o' }], [{ id: 'fam', smp: 3, xftp: 1 }]);

  it('gives every instance a valid password, a unique local port and the onion port of its kind', () => {
    const state = compile(spec).get('pi')!;
    expect(state.revision).toBe(1);
    expect(state.instances.map((i) => [i.id, i.localPort, i.onionPort])).toEqual([
      ['fam-smp-01', 15223, 5223],
      ['fam-smp-02', 15224, 5223],
      ['fam-smp-03', 15225, 5223],
      ['fam-xftp-01', 18443, 443],
    ]);
    for (const i of state.instances) expect(ServerPassword.safeParse(i.password).success).toBe(true);
    expect(new Set(state.instances.map((i) => i.password)).size).toBe(4);
    expect(state.instances.find((i) => i.kind === 'xftp')?.quota).toBe('10gb');
  });

  it('keeps passwords, ports and the revision when nothing changed', () => {
    const first = compile(spec).get('pi')!;
    const again = compile(spec, new Map([['pi', first]]), 100).get('pi')!;
    expect(again).toEqual(first);
  });

  it('keeps existing passwords and ports, and gives a new instance a new password and the lowest free port', () => {
    const first = compile(spec).get('pi')!;
    const grown = { ...spec, groups: spec.groups.map((g) => ({ ...g, smp: 4 })) };
    const next = compile(grown, new Map([['pi', first]]), 100).get('pi')!;
    expect(next.revision).toBe(2);
    for (const old of first.instances) expect(next.instances.find((i) => i.id === old.id)).toMatchObject({ password: old.password, localPort: old.localPort });
    const added = next.instances.find((i) => i.id === 'fam-smp-04')!;
    expect(added.localPort).toBe(15226);
    expect(first.instances.map((i) => i.password)).not.toContain(added.password);
  });

  it('turns on SSH over Tor and firewalls port 22 from the elevated tier up', () => {
    const standard = compile(spec).get('pi')!;
    expect(standard.ssh.overTor).toBe(false);
    expect(standard.firewall.loopbackOnlyPorts).toEqual([15223, 15224, 15225, 18443]);
    const elevated = compile(fleet([{ id: 'pi', operator: 'o' }], [{ id: 'ngo', tier: 'elevated', smp: 2, xftp: 0 }])).get('pi')!;
    expect(elevated.ssh.overTor).toBe(true);
    expect(elevated.firewall.loopbackOnlyPorts).toEqual([22, 15223, 15224]);
    expect(elevated.instances[0]?.hardening).toMatchObject({ introDosDefense: true, powDefense: true, maxStreams: 32 });
  });

  it('compiles the extreme tier without statistics and with 2-day expiry', () => {
    const extreme = fleet(
      [...devicesOf('a', 2, { jurisdiction: 'IS' }), ...devicesOf('b', 2, { jurisdiction: 'CH' }), ...devicesOf('c', 2, { jurisdiction: 'EE' })],
      [{ id: 'src', tier: 'extreme', smp: 3, xftp: 1 }],
    );
    const states = [...compile(extreme).values()].flatMap((s) => s.instances);
    expect(states).toHaveLength(4);
    for (const i of states) expect(i.hardening).toMatchObject({ noStatistics: true, expireMessagesDays: 2 });
  });

  it('skips revoked devices and gives empty desired states to idle ones', () => {
    const two = fleet([{ id: 'pi-1', operator: 'o' }, { id: 'pi-2', operator: 'o', state: 'revoked' }, { id: 'pi-3', operator: 'o', state: 'draining' }], [{ id: 'g', smp: 2, xftp: 0 }]);
    const states = compile(two);
    expect([...states.keys()].sort()).toEqual(['pi-1', 'pi-3']);
    expect(states.get('pi-3')?.instances).toEqual([]);
  });
});

describe('compileDesired: SSH client authorization', () => {
  const admin = { name: 'admin', publicKey: 'A'.repeat(52) };

  it("puts the admin's client key on every device managed over Tor, and none where SSH is not over Tor", () => {
    const elevated = fleet([{ id: 'pi', operator: 'o' }], [{ id: 'fam', tier: 'elevated', smp: 1, xftp: 0 }]);
    const placement = plan(elevated, null).placement;
    const state = compileDesired({ spec: elevated, placement, previous: new Map(), randomBytes: counterBytes(), sshClientAuth: [admin] }).get('pi')!;
    expect(state.ssh).toEqual({ overTor: true, clientAuth: [admin] });
    const standard = fleet([{ id: 'pi', operator: 'o' }], [{ id: 'fam', smp: 1, xftp: 0 }]);
    const plain = compileDesired({ spec: standard, placement: plan(standard, null).placement, previous: new Map(), randomBytes: counterBytes(), sshClientAuth: [admin] }).get('pi')!;
    expect(plain.ssh).toEqual({ overTor: false, clientAuth: [] });
  });
});
