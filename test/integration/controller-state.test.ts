/** `onionfleet init`: keys 0600, never replaced, optionally passphrase-protected; device registry. */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSecrets } from '../../controller/state/keys.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'onionfleet-state-'));

describe('onionfleet init', () => {
  it('makes the keys 0600, shows only public halves, and refuses to run twice', async () => {
    const state = join(tmp(), 'state');
    const run = await onionfleet('init', '--state', state, '--json');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { signingKey: string; ageRecipient: string; natsUser: string; fingerprint: string };
    expect(out.signingKey).toMatch(/^ed25519:/);
    expect(out.ageRecipient).toMatch(/^age1/);
    expect(out.natsUser).toMatch(/^U/);
    for (const f of ['signing.key', 'age.key', 'nats.nk']) {
      expect(statSync(join(state, 'keys', f)).mode & 0o777).toBe(0o600);
      expect(run.stdout).not.toContain(readFileSync(join(state, 'keys', f), 'utf8').trim());
    }
    const again = await onionfleet('init', '--state', state);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already initialized/);
  });

  it('encrypts the private keys with a passphrase, and needs it to use them', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    const pass = join(dir, 'pass');
    writeFileSync(pass, 'correct horse battery staple\n');
    expect((await onionfleet('init', '--state', state, '--passphrase-file', pass)).code).toBe(0);
    expect(readFileSync(join(state, 'keys/signing.key'), 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    const paths = statePaths(state);
    await expect(loadSecrets(paths, null)).rejects.toThrow(/protected by a passphrase/);
    await expect(loadSecrets(paths, 'wrong')).rejects.toThrow();
    const secrets = await loadSecrets(paths, 'correct horse battery staple');
    expect(secrets.natsSeed).toMatch(/^SU/);
  });
});

describe('commands that need the bus', () => {
  it('say clearly that NATS is not running, and exit 4', async () => {
    const state = join(tmp(), 'state');
    await onionfleet('init', '--state', state);
    const run = await onionfleet('status', '--state', state);
    expect(run.code).toBe(4);
    expect(run.stderr).toBe(`NATS is not running for ${state}\nhint: start it with \`onionfleet serve\` (in another terminal, or as a service)\n`);
  });
});

describe('onionfleet device', () => {
  it('registers an enrollment record made by onionfleet-agent init, and lists it', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    await onionfleet('init', '--state', state);
    const agent = await runBin(BIN.agent, ['init', '--device', 'pi-1', '--root', join(dir, 'root')]);
    expect(agent.code).toBe(0);
    const record = join(dir, 'record.json');
    writeFileSync(record, agent.stdout);
    expect(agent.stdout).not.toContain(readFileSync(join(dir, 'root/etc/onionfleet/keys/age.key'), 'utf8').trim());
    const mismatch = await onionfleet('device', 'add', '--id', 'pi-2', '--record', record, '--state', state);
    expect(mismatch.code).toBe(2);
    expect((await onionfleet('device', 'add', '--id', 'pi-1', '--record', record, '--state', state)).code).toBe(0);
    const list = JSON.parse((await onionfleet('device', 'list', '--state', state, '--json')).stdout) as { device: string; state: string }[];
    expect(list).toMatchObject([{ device: 'pi-1', state: 'enrolled' }]);
    const again = await runBin(BIN.agent, ['init', '--device', 'pi-1', '--root', join(dir, 'root')]);
    expect(again.stdout).toBe(agent.stdout); // keys kept
  });
});
