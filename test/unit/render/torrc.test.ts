/** Tor's configuration: one onion per instance with its tier's hardening, and the SSH onion. */
import { describe, expect, it } from 'vitest';
import { PATHS, renderTorrcFragment, renderTorrcMain, sshOnionHardening, TORRC_INCLUDE } from '../../../agent/render/index.ts';
import { hardeningFor } from '#shared/schema/desired-state.ts';
import { desiredState, instance } from '../../builders/desired.ts';

const HARDENING_LINES = ['HiddenServiceEnableIntroDoSDefense 1', 'HiddenServicePoWDefensesEnabled 1', 'HiddenServiceMaxStreams 32', 'HiddenServiceMaxStreamsCloseCircuit 1'];

/** HiddenServiceDir → the lines of its block (up to the next HiddenServiceDir). */
function services(torrc: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of torrc.split('\n')) {
    if (line.startsWith('HiddenServiceDir ')) {
      current = [];
      out.set(line.slice('HiddenServiceDir '.length), current);
    } else if (current !== null && line.startsWith('HiddenService')) current.push(line);
  }
  return out;
}

describe('renderTorrcMain', () => {
  it('offers SOCKS on loopback only, with extended errors, and includes the fragments', () => {
    const torrc = renderTorrcMain({ socksPort: 9150 });
    expect(torrc).toContain('\nSocksPort 127.0.0.1:9150 ExtendedErrors\n');
    expect(torrc).toContain(`\n%include ${TORRC_INCLUDE}\n`);
    expect(TORRC_INCLUDE).toBe('/etc/tor/torrc.d/*.conf');
    expect(PATHS.torrcFragment.startsWith(TORRC_INCLUDE.replace('*.conf', ''))).toBe(true);
  });
});

describe('renderTorrcFragment', () => {
  it('publishes each instance on its onion port, forwarded to its local port on loopback', () => {
    const hs = services(renderTorrcFragment(desiredState({ tier: 'standard' })));
    expect([...hs.keys()]).toEqual(['newsroom-smp-01', 'newsroom-smp-02', 'newsroom-xftp-01'].map((id) => PATHS.onionDir(id)));
    expect(hs.get(PATHS.onionDir('newsroom-smp-02'))).toEqual(['HiddenServiceVersion 3', 'HiddenServicePort 5223 127.0.0.1:15224']);
    expect(hs.get(PATHS.onionDir('newsroom-xftp-01'))).toEqual(['HiddenServiceVersion 3', 'HiddenServicePort 443 127.0.0.1:18443']);
  });

  it('turns on no hardening at the standard tier', () => {
    const torrc = renderTorrcFragment(desiredState({ tier: 'standard' }));
    for (const line of HARDENING_LINES) expect(torrc).not.toContain(line.split(' ')[0]);
  });

  it.each(['elevated', 'high', 'extreme'] as const)('turns on DoS, PoW and stream limits on every onion at the %s tier', (tier) => {
    for (const [dir, lines] of services(renderTorrcFragment(desiredState({ tier })))) {
      expect(lines, dir).toEqual(expect.arrayContaining(HARDENING_LINES));
    }
  });

  it('hardens each instance by its own tier on a shared device', () => {
    const desired = desiredState({ groups: [{ id: 'family', tier: 'standard', smp: 1, xftp: 0 }, { id: 'ngo', tier: 'elevated', smp: 1, xftp: 0 }] });
    const hs = services(renderTorrcFragment(desired));
    expect(hs.get(PATHS.onionDir('family-smp-01'))).toHaveLength(2);
    expect(hs.get(PATHS.onionDir('ngo-smp-01'))).toEqual(expect.arrayContaining(HARDENING_LINES));
  });

  it('adds the SSH onion, forwarded to sshd on loopback, only with SSH over Tor', () => {
    const withSsh = services(renderTorrcFragment(desiredState({ tier: 'elevated' })));
    expect(withSsh.get(PATHS.onionDir('ssh'))).toEqual(['HiddenServiceVersion 3', 'HiddenServicePort 22 127.0.0.1:22', ...HARDENING_LINES]);
    expect([...withSsh.keys()].at(-1)).toBe(PATHS.onionDir('ssh'));
    expect(services(renderTorrcFragment(desiredState({ tier: 'elevated', overTor: false }))).has(PATHS.onionDir('ssh'))).toBe(false);
    expect(services(renderTorrcFragment(desiredState({ tier: 'standard' }))).has(PATHS.onionDir('ssh'))).toBe(false);
  });

  it('is the same whatever the order of the instances or the revision', () => {
    const desired = desiredState({ tier: 'high' });
    const shuffled = { ...desired, revision: 9, instances: [...desired.instances].reverse() };
    expect(renderTorrcFragment(shuffled)).toBe(renderTorrcFragment(desired));
  });
});

describe('sshOnionHardening', () => {
  it('is at least the elevated tier\'s, even on a device without instances or with only standard ones', () => {
    const elevated = hardeningFor('elevated');
    const floor = { introDosDefense: elevated.introDosDefense, powDefense: elevated.powDefense, maxStreams: elevated.maxStreams };
    expect(sshOnionHardening([])).toEqual(floor);
    expect(sshOnionHardening([instance('smp', 1, { tier: 'standard' })])).toEqual(floor);
  });

  it('takes the strictest of the instances', () => {
    const tight = instance('smp', 1, { tier: 'extreme', hardening: { ...hardeningFor('extreme'), maxStreams: 8 } });
    expect(sshOnionHardening([instance('smp', 2, { tier: 'elevated' }), tight])).toEqual({ introDosDefense: true, powDefense: true, maxStreams: 8 });
  });
});
