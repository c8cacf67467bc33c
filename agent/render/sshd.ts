/**
 * The sshd drop-in `/etc/ssh/sshd_config.d/onionfleet.conf` for SSH over Tor. Pure.
 *
 * Contracts:
 * - sshd takes the first value it reads for most keywords, and Debian's sshd_config includes
 *   `sshd_config.d/*.conf` at its top: these settings win over the main file;
 * - `ListenAddress` and `Port` add up rather than override: this relies on the main file naming none
 *   (Debian's default has both commented out);
 * - keys only, no forwarding, no root: the only way in is the SSH onion (whose descriptor only
 *   authorized clients can fetch) to 127.0.0.1:22.
 */
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { PATHS } from './paths.ts';
import { SSH_ONION } from './torrc.ts';

/**
 * Renders the drop-in, or returns `null` when the device does not take SSH over Tor (then no drop-in
 * must exist).
 */
export function renderSshdDropIn(desired: DesiredState): string | null {
  if (!desired.ssh.overTor) return null;
  return [
    '# Managed by onionfleet-agent - changes are overwritten.',
    '# SSH over Tor: sshd listens on 127.0.0.1 only and is reachable only through the SSH onion',
    `# (${PATHS.onionDir(SSH_ONION.name)}), whose descriptor only authorized clients can fetch.`,
    'ListenAddress 127.0.0.1',
    `Port ${SSH_ONION.localPort}`,
    '',
    '# Public keys only.',
    'PubkeyAuthentication yes',
    'AuthenticationMethods publickey',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin no',
    'MaxAuthTries 3',
    'LoginGraceTime 30',
    '',
    '# No forwarding of any kind.',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    'AllowTcpForwarding no',
    'PermitTunnel no',
    '',
    '# Drop dead sessions (Tor circuits can vanish silently).',
    'ClientAliveInterval 300',
    'ClientAliveCountMax 2',
    '',
  ].join('\n');
}
