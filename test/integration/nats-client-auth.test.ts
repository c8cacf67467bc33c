/**
 * Before its first desired state (which comes through the NATS onion) a Pi's tor must already hold
 * the device's client key and name its ClientOnionAuthDir: prepareTorForNats writes both, and the
 * result is a configuration the real tor accepts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareTorForNats } from '../../agent/onion/nats-client-auth.ts';
import { noOwners } from '../../agent/owners.ts';
import { PATHS } from '../../agent/render/paths.ts';
import { clientAuthKeyPair, randomOnionKeys } from '#shared/crypto/onion.ts';

describe('prepareTorForNats', () => {
  it("on a Pi with the distribution's torrc: writes the key and onionfleet's main torrc, reloads once, then nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-prep-'));
    mkdirSync(join(root, 'etc/tor'), { recursive: true });
    writeFileSync(join(root, PATHS.torrc), '# the distribution\'s torrc\n');
    const reloads: string[] = [];
    let torRunning = true;
    const system = { reloadTor: () => { reloads.push('tor'); return Promise.resolve(); }, torRunning: () => Promise.resolve(torRunning), applyFirewall: () => Promise.resolve(), reloadSshd: () => Promise.resolve() };
    const onion = randomOnionKeys().hostname;
    const key = clientAuthKeyPair().privateKeyBase32;
    const options = { root, onHost: true, clientAuthDir: PATHS.torClientAuthDir, socksPort: 9050, onionHostname: onion, privateKeyBase32: key, owners: noOwners, system };

    expect(await prepareTorForNats(options)).toBe(true);
    expect(reloads).toEqual(['tor']);
    const file = join(root, PATHS.torClientAuthDir, 'controller.auth_private');
    expect(readFileSync(file, 'utf8')).toBe(`${onion.replace('.onion', '')}:descriptor:x25519:${key}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, PATHS.torClientAuthDir)).mode & 0o777).toBe(0o700);
    const torrc = readFileSync(join(root, PATHS.torrc), 'utf8');
    expect(torrc).toContain(`ClientOnionAuthDir ${PATHS.torClientAuthDir}\n`);

    // The real tor accepts it (paths moved below the temp root, as the render validators do).
    const relocated = torrc.replaceAll(PATHS.torClientAuthDir, join(root, PATHS.torClientAuthDir)).replace(/%include .*/, '');
    const data = join(root, 'tor-data');
    mkdirSync(data, { mode: 0o700 });
    writeFileSync(join(root, 'torrc.check'), `${relocated}DataDirectory ${data}\n`);
    expect(execFileSync('tor', ['--verify-config', '-f', join(root, 'torrc.check')], { encoding: 'utf8' })).toContain('Configuration was valid');

    expect(await prepareTorForNats(options)).toBe(false);
    expect(reloads).toEqual(['tor']);

    // A reload that failed last time (tor down, the files already written) is tried again.
    torRunning = false;
    expect(await prepareTorForNats(options)).toBe(false);
    expect(reloads).toEqual(['tor', 'tor']);
  });

  it('in a sandbox leaves the main torrc alone (the sandbox tor has its own)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-prep-'));
    const system = { reloadTor: () => Promise.resolve(), torRunning: () => Promise.resolve(true), applyFirewall: () => Promise.resolve(), reloadSshd: () => Promise.resolve() };
    await prepareTorForNats({ root, onHost: false, clientAuthDir: PATHS.torClientAuthDir, socksPort: 9050, onionHostname: randomOnionKeys().hostname, privateKeyBase32: clientAuthKeyPair().privateKeyBase32, owners: noOwners, system });
    expect(() => statSync(join(root, PATHS.torrc))).toThrow();
  });
});
