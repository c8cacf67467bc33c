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
 *   drops everything inbound but loopback, replies and IPv6 neighbour discovery (the manual guide);
 * - with no ports the table is empty: no chain, nothing dropped.
 */
import type { DesiredState } from '#shared/schema/desired-state.ts';

/** The one table onionfleet manages. */
export const FIREWALL_TABLE = { family: 'inet', name: 'onionfleet' } as const;

/** Renders the rules file for `desired.firewall.loopbackOnlyPorts` (duplicates removed, sorted). */
export function renderFirewall(desired: DesiredState): string {
  const table = `table ${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  const ports = [...new Set(desired.firewall.loopbackOnlyPorts)].sort((a, b) => a - b);
  const body = desired.ssh.overTor ? dropAllInbound(table, ports) : ports.length === 0 ? [`${table} {`, '}'] : [
    `${table} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority 0; policy accept;',
    `\t\tiifname != "lo" tcp dport { ${ports.join(', ')} } drop`,
    '\t}',
    '}',
  ];
  return [
    '#!/usr/sbin/nft -f',
    '# Managed by onionfleet-agent - changes are overwritten.',
    `# Ports reachable only on loopback (onion services and sshd): ${ports.length === 0 ? 'none' : ports.join(', ')}.`,
    ...(desired.ssh.overTor ? ['# SSH over Tor: the device is managed only through onions, so nothing inbound is accepted but loopback and replies.'] : []),
    '# Declare, delete, define: one atomic transaction, idempotent whether or not the table exists.',
    table,
    `delete ${table}`,
    ...body,
    '',
  ].join('\n');
}

/**
 * The manual guide's firewall, for devices managed only over Tor (SSH over Tor): drop every inbound
 * packet except on loopback, replies to the device's own connections (tor's), and the ICMPv6 that
 * IPv6 needs to work at all. The loopback-only ports are still listed, explicitly, for readers.
 */
function dropAllInbound(table: string, ports: readonly number[]): string[] {
  return [
    `${table} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority 0; policy drop;',
    '\t\tiif "lo" accept',
    '\t\tct state invalid drop',
    '\t\tct state established,related accept',
    '\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, packet-too-big } accept',
    ...(ports.length === 0 ? [] : [`\t\ttcp dport { ${ports.join(', ')} } drop`]),
    '\t}',
    '}',
  ];
}
