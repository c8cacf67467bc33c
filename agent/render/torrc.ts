/**
 * Tor's configuration: the main `/etc/tor/torrc` (the local SOCKS port and an include of
 * `/etc/tor/torrc.d/*.conf`) and onionfleet's fragment with one v3 onion service per instance, plus
 * one for SSH when the device takes SSH over Tor (docs/reference/tor.md). Pure.
 *
 * Debian's `tor@default` unit adds `--defaults-torrc /usr/share/tor/tor-service-defaults-torrc`, which
 * sets DataDirectory, User and the control socket; the main torrc therefore sets none of them.
 * Every HiddenServiceDir sits under /var/lib/tor (AppArmor): the executor creates them owned by
 * `debian-tor`, mode 0700.
 */
import { hardeningFor, type DesiredInstance, type DesiredState, type InstanceHardening } from '#shared/schema/desired-state.ts';
import { PATHS } from './paths.ts';

/** The part of an instance's hardening that applies to its onion service. */
export type OnionHardening = Pick<InstanceHardening, 'introDosDefense' | 'powDefense' | 'maxStreams'>;

/** What the SSH onion forwards to: sshd on loopback (see `sshd.ts`). */
export const SSH_ONION = { name: 'ssh', onionPort: 22, localPort: 22 } as const;

/** The glob the main torrc includes: every `.conf` beside onionfleet's fragment. */
export const TORRC_INCLUDE = `${PATHS.torrcFragment.slice(0, PATHS.torrcFragment.lastIndexOf('/'))}/*.conf`;

/**
 * Renders `/etc/tor/torrc`: SOCKS on 127.0.0.1 only (ExtendedErrors, so probes can classify onion
 * failures) and the include of the fragments directory.
 */
export function renderTorrcMain(options: { readonly socksPort: number }): string {
  return [
    '# Managed by onionfleet-agent - changes are overwritten.',
    '# DataDirectory, User and the control socket come from Debian\'s tor-service-defaults-torrc.',
    '',
    '# Local clients only: the SimpleX servers (private routing) and the agent (downloads, probes).',
    `SocksPort 127.0.0.1:${options.socksPort} ExtendedErrors`,
    '',
    '# The agent keeps here the key that opens the controller\'s NATS onion (client authorization).',
    `ClientOnionAuthDir ${PATHS.torClientAuthDir}`,
    '',
    `%include ${TORRC_INCLUDE}`,
    '',
  ].join('\n');
}

/**
 * The hardening of the SSH onion: the strictest among the device's instances, and never weaker than
 * the elevated tier (SSH over Tor is an elevated-tier feature). Stricter means: a defence on if any
 * instance has it, the smallest `maxStreams`.
 */
export function sshOnionHardening(instances: readonly DesiredInstance[]): OnionHardening {
  const floor = hardeningFor('elevated');
  let result: OnionHardening = { introDosDefense: floor.introDosDefense, powDefense: floor.powDefense, maxStreams: floor.maxStreams };
  for (const { hardening: h } of instances) {
    result = {
      introDosDefense: result.introDosDefense || h.introDosDefense,
      powDefense: result.powDefense || h.powDefense,
      maxStreams: minStreams(result.maxStreams, h.maxStreams),
    };
  }
  return result;
}

/**
 * Renders `/etc/tor/torrc.d/onionfleet.conf`: `VanguardsLiteEnabled 1` when an instance's tier asks
 * for it, one onion service per instance, sorted by id, then the SSH onion when `desired.ssh.overTor`. Each service forwards its onion port to the instance's
 * local port on 127.0.0.1. Same input, same bytes: nothing here depends on the revision.
 */
export function renderTorrcFragment(desired: DesiredState, options: { readonly contentRoot?: string } = {}): string {
  const root = options.contentRoot ?? '';
  const instances = [...desired.instances].sort((a, b) => compare(a.id, b.id));
  const blocks = instances.map((i) =>
    onionService(
      [`# ${i.id} (${i.kind}, tier ${i.tier})`],
      `${root}${PATHS.onionDir(i.id)}`,
      i.onionPort,
      i.localPort,
      i.hardening,
    ),
  );
  if (desired.ssh.overTor) {
    blocks.push(
      onionService(
        [
          '# SSH: sshd listens on 127.0.0.1 only and is reachable only through this onion.',
          '# Client authorization: one authorized_clients/<name>.auth file per allowed key.',
        ],
        `${root}${PATHS.onionDir(SSH_ONION.name)}`,
        SSH_ONION.onionPort,
        SSH_ONION.localPort,
        sshOnionHardening(desired.instances),
      ),
    );
  }
  const header = [
    '# Managed by onionfleet-agent - changes are overwritten.',
    `# Onion services of device ${desired.device}.`,
  ];
  const global = desired.instances.some((i) => i.hardening.vanguardsLite) ? [VANGUARDS_LITE.join('\n')] : [];
  return `${[header.join('\n'), ...global, ...blocks].join('\n\n')}\n`;
}

/**
 * Tor's built-in vanguards-lite (proposal 333), asked for explicitly at the high and extreme tiers:
 * tor 0.4.7+ turns it on by itself only while the vanguards addon is absent, and the addon is
 * unmaintained (docs/tiers.md, "Why not the vanguards addon").
 */
const VANGUARDS_LITE = [
  '# Vanguards-lite: pinned second-hop guards for the onion services (guard discovery attacks).',
  'VanguardsLiteEnabled 1',
];

function onionService(comments: readonly string[], dir: string, onionPort: number, localPort: number, h: OnionHardening): string {
  const lines = [
    ...comments,
    `HiddenServiceDir ${dir}`,
    'HiddenServiceVersion 3',
    `HiddenServicePort ${onionPort} 127.0.0.1:${localPort}`,
  ];
  if (h.introDosDefense) lines.push('HiddenServiceEnableIntroDoSDefense 1');
  if (h.powDefense) lines.push('HiddenServicePoWDefensesEnabled 1');
  if (h.maxStreams !== null) lines.push(`HiddenServiceMaxStreams ${h.maxStreams}`, 'HiddenServiceMaxStreamsCloseCircuit 1');
  return lines.join('\n');
}

function minStreams(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
