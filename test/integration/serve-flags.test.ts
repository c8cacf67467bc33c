/**
 * `serve`'s flags are checked before anything starts: a user error exits 2 and starts nothing; and a
 * serve killed hard does not keep the next one from starting.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onionfleet } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { alive } from '../support/processes.ts';

describe('onionfleet serve: Tor flags', () => {
  it('refuses --tor-config without --tor, and an unreadable --tor-config, before starting anything (exit 2)', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'onionfleet-serve-')), 'state');
    expect((await onionfleet('init', '--state', state)).code).toBe(0);
    const alone = await onionfleet('serve', '--state', state, '--port', '0', '--tor-config', '/etc/hostname');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/tor-config: needs --tor/);
    const missing = await onionfleet('serve', '--state', state, '--port', '0', '--tor', '--tor-config', join(state, 'no-such.conf'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-such\.conf: cannot read it/);
    expect(existsSync(join(state, 'nats/runtime.json'))).toBe(false);
    expect(existsSync(join(state, 'nats/nats.conf'))).toBe(false);
    expect(existsSync(join(state, 'tor/runtime.json'))).toBe(false);
  });
});

describe('onionfleet serve after a serve was killed', () => {
  it('stops the nats-server the killed serve left running, and starts afresh', async () => {
    const h = await FleetHarness.create();
    try {
      await h.startServe();
      const orphan = h.natsPid();
      await h.stopServe('SIGKILL');
      expect(alive(orphan)).toBe(true); // the server outlived its serve
      const status = await h.status();
      expect(status.code).toBe(4); // nothing answers for the state: its serve is gone
      await h.startServe();
      expect(h.serveLog).toContain(`stopped the nats-server (pid ${orphan}) that a serve killed earlier left running`);
      expect(alive(orphan)).toBe(false);
      expect(h.natsPid()).not.toBe(orphan);
      expect((await h.status()).code).toBe(0);
    } finally {
      await h.stop();
    }
  }, 60_000);
});
