/**
 * Rough edges a new user hit at the command line (issue 12), each pinned: a flag that is not a number
 * says what it got; an --out that cannot be written is the user's error (exit 2), and apply --offline
 * refuses it before the controller's records move on; a passphrase is asked for on a terminal, without
 * echo, for the controller's state and for a member's bundle.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderBundle, signBundle } from '../../controller/bundle/document.ts';
import { writeMemberBundles } from '../../controller/bundle/export.ts';
import { generateSigningKey, keyFingerprint } from '#shared/crypto/sign.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { onTerminal } from '../support/terminal.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'onionfleet-edges-'));
const EXAMPLE = new URL('../../deploy/examples/newsroom.yaml', import.meta.url).pathname;

describe('flags', () => {
  it('a --timeout that is not a number says what it got, and exits 2', async () => {
    const run = await onionfleet('apply', '-f', EXAMPLE, '--timeout', 'abc', '--state', join(tmp(), 'state'));
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('--timeout: expected seconds as a whole number, got "abc"\n');
    const port = await onionfleet('serve', '--port', '99999', '--state', join(tmp(), 'state'));
    expect(port.stderr).toMatch(/^--port: expected a TCP port from 0 to 65535, got 99999/);
  });
});

describe('--out that cannot be written', () => {
  it('plan --out into a missing directory: exit 2 naming the path, not an internal error', async () => {
    const out = join(tmp(), 'no-such-dir', 'plan.json');
    const run = await onionfleet('plan', '-f', EXAMPLE, '--out', out);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${out}: cannot write: its directory does not exist`);
    expect(run.stderr).not.toMatch(/internal error/);
  });

  it('apply --offline --out below a file: exit 2, and the controller\'s records did not move on', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    expect((await onionfleet('init', '--state', state)).code).toBe(0);
    const agent = await runBin(BIN.agent, ['init', '--device', 'pi-1', '--root', join(dir, 'root')]);
    writeFileSync(join(dir, 'record.json'), agent.stdout);
    expect((await onionfleet('device', 'add', '--id', 'pi-1', '--record', join(dir, 'record.json'), '--state', state)).code).toBe(0);
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(fleet, fleetYaml([{ id: 'pi-1', operator: 'alice' }], [{ id: 'fam', smp: 1, xftp: 0 }]));
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const run = await onionfleet('apply', '-f', fleet, '--offline', '--out', join(blocker, 'out'), '--state', state);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot write: a part of the path is not a directory/);
    expect(existsSync(join(state, 'offline'))).toBe(false);
  });
});

describe('passphrases on a terminal', () => {
  it("asks for the state's passphrase without echo when none is given", async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    const secret = 'terminal passphrase 42';
    writeFileSync(join(dir, 'pass'), `${secret}\n`);
    expect((await onionfleet('init', '--state', state, '--passphrase-file', join(dir, 'pass'))).code).toBe(0);
    const agent = await runBin(BIN.agent, ['init', '--device', 'pi-1', '--root', join(dir, 'root')]);
    writeFileSync(join(dir, 'record.json'), agent.stdout);
    expect((await onionfleet('device', 'add', '--id', 'pi-1', '--record', join(dir, 'record.json'), '--state', state)).code).toBe(0);
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(fleet, fleetYaml([{ id: 'pi-1', operator: 'alice' }], [{ id: 'fam', smp: 1, xftp: 0 }]));
    const run = await onTerminal(BIN.onionfleet, ['apply', '-f', fleet, '--offline', '--out', join(dir, 'out'), '--state', state], /passphrase of .*state: /, secret);
    expect(run.screen).not.toContain(secret);
    expect(run.code, run.screen).toBe(0);
    expect(existsSync(join(dir, 'out', 'pi-1.age'))).toBe(true);
  }, 120_000);

  it("asks for a member's bundle passphrase without echo", async () => {
    const dir = tmp();
    const key = generateSigningKey();
    const text = signBundle(renderBundle({ fleet: 'f', group: 'fam', version: 1, date: '2026-01-01', smp: [`smp://${'A'.repeat(43)}=:pw@${'a'.repeat(56)}.onion`], xftp: [], retire: [] }), key.secretKey, key.publicKey);
    const secret = 'member passphrase 7';
    const [written] = await writeMemberBundles(text, [{ member: 'cleo', passphrase: secret }], dir, { signer: key });
    const file = written?.file;
    const run = await onTerminal(BIN.onionfleet, ['bundle', 'open', file ?? '', '--controller-key', keyFingerprint(key.publicKey)], /passphrase of .*cleo\.age: /, secret, { ONIONFLEET_PIN_FILE: join(dir, 'pin'), ONIONFLEET_ALLOWED_SIGNERS: join(dir, 'allowed_signers') });
    expect(run.screen).not.toContain(secret);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).toContain('a'.repeat(56));
  }, 120_000);
});

describe('apply --wait', () => {
  it('is not silent while nothing changes: it names what it still waits on', async () => {
    const h = await FleetHarness.create();
    try {
      await h.startServe();
      await h.enroll('pi-1'); // its agent never starts
      const fleet = h.writeFleet(fleetYaml([{ id: 'pi-1', operator: 'alice' }], [{ id: 'fam', smp: 1, xftp: 0 }]));
      const run = await h.apply(fleet, '--wait', '--timeout', '20');
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^converged 0\/1 devices$/m);
      expect(run.stderr).toMatch(/^still waiting \(\d+ s\): pi-1: no status$/m);
      expect(run.stdout).toMatch(/timed out after 20s; not converged:\n {2}pi-1: no status/);
    } finally {
      await h.stop();
    }
  }, 60_000);
});
