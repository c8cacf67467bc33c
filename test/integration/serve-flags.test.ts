/** `serve`'s Tor flags are checked before anything starts: a user error exits 2 and starts nothing. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onionfleet } from '../support/cli.ts';

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
