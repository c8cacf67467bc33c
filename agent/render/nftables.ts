/**
 * The firewall rules file loaded with `nft -f` by `onionfleet-firewall.service`. Pure.
 *
 * Contracts:
 * - onionfleet owns exactly one table, `inet onionfleet` (IPv4 and IPv6), and never names another:
 *   the distribution's or the operator's rules stay untouched;
 * - re-applying is idempotent and atomic: the file declares the table (a no-op when it exists),
 *   deletes it and defines it afresh, all in one `nft -f` transaction. Deleting rather than flushing
 *   also drops chains an older version defined and lets a chain's hook or priority change;
 * - the input chain accepts by default and drops TCP to `loopbackOnlyPorts` arriving on any
 *   interface but `lo` (the SimpleX servers listen on every interface; tor reaches them on loopback);
 * - with SSH over Tor (elevated tier and above) the device is managed only through onions: the chain
 *   drops everything inbound but loopback, replies, IPv6 neighbour discovery and DHCP answers (the
 *   manual guide);
 * - with egress only through Tor (high and extreme tiers) an output chain lets only tor's account
 *   open connections off the device;
 * - with no ports and no tor-only egress the table is empty: no chain, nothing dropped.
 */
import type { DesiredState } from '#shared/schema/desired-state.ts';

/** The one table onionfleet manages. */
export const FIREWALL_TABLE = { family: 'inet', name: 'onionfleet' } as const;

/** The account tor runs as on Debian and Raspberry Pi OS: the only one that may open connections off a tor-only device. */
export const TOR_ACCOUNT = 'debian-tor';

/** Renders the rules file for `desired.firewall.loopbackOnlyPorts` (duplicates removed, sorted). */
export function renderFirewall(desired: DesiredState): string {
  const table = `table ${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  const ports = [...new Set(desired.firewall.loopbackOnlyPorts)].sort((a, b) => a - b);
  const torOnly = desired.instances.some((i) => i.hardening.torOnlyEgress);
  const input = desired.ssh.overTor ? dropAllInbound(ports) : ports.length === 0 ? [] : [
    '\tchain input {',
    '\t\ttype filter hook input priority 0; policy accept;',
    `\t\tiifname != "lo" tcp dport { ${ports.join(', ')} } counter drop`,
    '\t}',
  ];
  const chains = [...input, ...(torOnly ? egressOnlyThroughTor() : [])];
  return [
    '#!/usr/sbin/nft -f',
    '# Managed by onionfleet-agent - changes are overwritten.',
    `# Ports reachable only on loopback (onion services and sshd): ${ports.length === 0 ? 'none' : ports.join(', ')}.`,
    ...(desired.ssh.overTor ? ['# SSH over Tor: the device is managed only through onions, so nothing inbound is accepted but loopback and replies.'] : []),
    ...(torOnly ? [`# Egress only through Tor: only ${TOR_ACCOUNT} (and loopback) may open connections off the device.`] : []),
    '# Declare, delete, define: one atomic transaction, idempotent whether or not the table exists.',
    table,
    `delete ${table}`,
    `${table} {`,
    ...chains,
    '}',
    '',
  ].join('\n');
}

/**
 * The manual guide's firewall, for devices managed only over Tor (SSH over Tor): drop every inbound
 * packet except on loopback, replies to the device's own connections (tor's), the ICMPv6 that IPv6
 * needs to work at all, and the answers of the link's DHCP servers (a lease renewal's reply, which
 * connection tracking may not tie to a broadcast request). The loopback-only ports are still listed,
 * explicitly, for readers; the counters show what was dropped (`nft list table inet onionfleet`).
 */
function dropAllInbound(ports: readonly number[]): string[] {
  return [
    '\tchain input {',
    '\t\ttype filter hook input priority 0; policy drop;',
    '\t\tiif "lo" accept',
    '\t\tct state invalid drop',
    '\t\tct state established,related accept',
    '\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, packet-too-big } accept',
    '\t\tudp sport 67 udp dport 68 accept',
    '\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
    ...(ports.length === 0 ? [] : [`\t\ttcp dport { ${ports.join(', ')} } counter drop`]),
    '\t\tcounter',
    '\t}',
  ];
}

/**
 * Egress only through Tor (high and extreme tiers): no process but tor may open a connection off the
 * device, so nothing — a server's private routing, the agent, anything else — can reveal the device's
 * address. Loopback stays open (tor's SOCKS port, the onion services' local ports), and so do replies,
 * the DHCP client's requests and the ICMPv6 the kernel sends to keep IPv6 working. Everything else is
 * rejected, not dropped: a blocked `connect()` fails at once ("No route to host") instead of hanging
 * until its timeout; the counter shows how many packets were stopped.
 */
function egressOnlyThroughTor(): string[] {
  return [
    '\tchain output {',
    '\t\ttype filter hook output priority 0; policy drop;',
    '\t\toif "lo" accept',
    `\t\tmeta skuid "${TOR_ACCOUNT}" accept`,
    '\t\tct state established,related accept',
    '\t\tudp sport 68 udp dport 67 accept',
    '\t\tudp sport 546 udp dport 547 accept',
    '\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept',
    '\t\tcounter reject with icmpx admin-prohibited',
    '\t}',
  ];
}
