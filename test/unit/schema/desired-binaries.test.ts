import { describe, expect, it } from 'vitest';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../../builders/desired.ts';

describe('DesiredState binaries', () => {
  it('accepts only /usr/local/bin/<name>: a signed document cannot make the agent overwrite another file', () => {
    const base = desiredState();
    expect(DesiredState.safeParse(base).success).toBe(true);
    for (const path of ['/etc/shadow', '/usr/local/bin/xftp-server', '/usr/local/bin/../sbin/sshd', '/usr/local/bin/smp-server/']) {
      const doc = { ...base, binaries: { ...base.binaries, 'smp-server': { path } } };
      const parsed = DesiredState.safeParse(doc);
      expect(parsed.success, path).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe('expected /usr/local/bin/smp-server (the only place the agent installs smp-server)');
    }
  });
});
