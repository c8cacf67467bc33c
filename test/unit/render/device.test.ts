/** renderDevice: which files, where, with which mode, and when it refuses. */
import { describe, expect, it } from 'vitest';
import { PATHS, renderDevice, sshClientAuthPath, type RenderedFile } from '../../../agent/render/index.ts';
import { desiredState, hostsFor, instance, onionHostname } from '../../builders/desired.ts';

const render = (d = desiredState({ tier: 'elevated', clientAuth: ['alice'] })) => renderDevice(d, hostsFor(d));
const byPath = (files: readonly RenderedFile[]) => new Map(files.map((f) => [f.path, f]));

describe('renderDevice', () => {
  it('renders every managed file once, at its absolute path, sorted by path', () => {
    const files = render();
    const paths = files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toEqual([
      PATHS.firewallRules,
      PATHS.iniFile('xftp', 'newsroom-xftp-01'),
      PATHS.iniFile('smp', 'newsroom-smp-01'),
      PATHS.iniFile('smp', 'newsroom-smp-02'),
      PATHS.sshdDropIn,
      PATHS.firewallUnit,
      PATHS.unitTemplate('smp'),
      PATHS.unitTemplate('xftp'),
      PATHS.torrc,
      PATHS.torrcFragment,
      sshClientAuthPath('alice'),
    ].sort());
  });

  it('gives the ini files (passwords) mode 0600 and every other config 0644', () => {
    for (const f of render()) {
      if (f.kind === 'smp-ini' || f.kind === 'xftp-ini') {
        expect(f.mode, f.path).toBe(0o600);
        expect(f.content).toMatch(/^create_password: pw-newsroom-(?:smp|xftp)-\d\d-S3cret$/m);
      } else if (f.kind !== 'other') expect(f.mode, f.path).toBe(0o644);
    }
  });

  it('writes one client-authorization file per SSH key, owned by tor, only with SSH over Tor', () => {
    const auth = render().filter((f) => f.kind === 'other');
    expect(auth).toEqual([{ path: '/var/lib/tor/onionfleet/ssh/authorized_clients/alice.auth', kind: 'other', mode: 0o600, owner: 'debian-tor', content: expect.stringMatching(/^descriptor:x25519:[A-Z2-7]{52}\n$/) as string }]);
    const noSsh = render(desiredState({ tier: 'elevated', overTor: false, clientAuth: ['alice'] }));
    expect(noSsh.filter((f) => f.kind === 'other' || f.kind === 'sshd')).toEqual([]);
  });

  it('puts each instance\'s onion hostname in its ini', () => {
    const files = byPath(render());
    expect(files.get(PATHS.iniFile('smp', 'newsroom-smp-02'))?.content).toContain(`\nhost: ${onionHostname('newsroom-smp-02')}\n`);
  });

  it('runs the binaries the desired state names (after the agent config\'s overrides)', () => {
    const d = { ...desiredState(), binaries: { 'smp-server': { path: '/opt/simplex/smp-server' }, 'xftp-server': { path: '/opt/simplex/xftp-server' } } };
    const files = byPath(renderDevice(d, hostsFor(d)));
    expect(files.get(PATHS.unitTemplate('smp'))?.content).toContain('\nExecStart=/opt/simplex/smp-server start\n');
    expect(files.get(PATHS.unitTemplate('xftp'))?.content).toContain('\nExecStart=/opt/simplex/xftp-server start\n');
  });

  it('is deterministic, ignores the revision and leaves its input untouched', () => {
    const d = desiredState({ tier: 'extreme', clientAuth: ['bob', 'alice'] });
    const before = structuredClone(d);
    const first = renderDevice(d, hostsFor(d));
    expect(renderDevice({ ...d, revision: 42, instances: [...d.instances].reverse() }, hostsFor(d))).toEqual(first);
    expect(d).toEqual(before);
  });

  it('writes 7-bit ASCII only (the servers read their ini with the locale\'s encoding)', () => {
    for (const f of render(desiredState({ tier: 'extreme', clientAuth: ['alice'] }))) expect(f.content, f.path).toMatch(/^[\t\x20-\x7e\n]*$/);
  });

  it('starts every file with the managed-by header', () => {
    for (const f of render()) {
      if (f.kind !== 'other') expect(f.content.split('\n').slice(0, 2).join('\n'), f.path).toContain('# Managed by onionfleet-agent - changes are overwritten');
    }
  });

  it('refuses to render without an instance\'s onion hostname, or with a malformed one', () => {
    const d = desiredState({ instances: [instance('smp', 1), instance('smp', 2)] });
    const hosts = hostsFor(d);
    hosts.delete('newsroom-smp-02');
    expect(() => renderDevice(d, hosts)).toThrow(/no onion hostname for instance newsroom-smp-02/);
    hosts.set('newsroom-smp-02', 'example.onion');
    expect(() => renderDevice(d, hosts)).toThrow(/onion hostname of newsroom-smp-02 is malformed/);
  });

  it('refuses two SSH client keys of one name (they would share a file)', () => {
    const d = desiredState({ tier: 'elevated', clientAuth: ['alice', 'alice'] });
    expect(() => renderDevice(d, hostsFor(d))).toThrow(/two SSH client-authorization keys are named "alice"/);
  });
});
