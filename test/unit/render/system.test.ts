/** systemd units, nftables rules and the sshd drop-in: the contracts a reviewer would check by eye. */
import { describe, expect, it } from 'vitest';
import { PATHS, renderFirewall, renderFirewallUnit, renderInstanceUnit, renderSshdDropIn } from '../../../agent/render/index.ts';
import { desiredState } from '../../builders/desired.ts';

const lines = (text: string) => text.split('\n');

describe('renderInstanceUnit', () => {
  it.each([
    ['smp', 'SMP_SERVER_CFG_PATH=/etc/opt/simplex/%i', 'SMP_SERVER_LOG_PATH=/var/opt/simplex/%i'],
    ['xftp', 'XFTP_SERVER_CFG_PATH=/etc/opt/simplex-xftp/%i', 'XFTP_SERVER_LOG_PATH=/var/opt/simplex-xftp/%i'],
  ] as const)('gives each %s instance its own directories through the environment', (kind, cfg, log) => {
    const unit = lines(renderInstanceUnit(kind, `/usr/local/bin/${kind}-server`));
    expect(unit).toContain(`Environment=${cfg}`);
    expect(unit).toContain(`Environment=${log}`);
    expect(unit).toContain(`ReadWritePaths=${PATHS.configDir(kind, '%i')} ${PATHS.logDir(kind, '%i')}`);
    expect(unit).toContain(`ExecStart=/usr/local/bin/${kind}-server start`);
  });

  it('stops with SIGINT, restarts on failure and runs sandboxed without capabilities', () => {
    const unit = lines(renderInstanceUnit('smp', '/usr/local/bin/smp-server'));
    for (const line of ['KillSignal=SIGINT', 'Restart=on-failure', 'RestartSec=5', 'User=simplex', 'Group=simplex', 'CapabilityBoundingSet=',
      'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes', 'UMask=0077', 'LimitNOFILE=65535',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'SystemCallArchitectures=native', 'WantedBy=multi-user.target']) {
      expect(unit).toContain(line);
    }
  });

  it('never runs a server without the firewall, and starts after tor', () => {
    const unit = lines(renderInstanceUnit('xftp', '/usr/local/bin/xftp-server'));
    expect(unit).toContain('Requires=onionfleet-firewall.service');
    expect(unit).toContain('After=network-online.target tor.service onionfleet-firewall.service onionfleet-hold.service');
    expect(unit).toContain('Wants=network-online.target tor.service');
  });

  it('does not start an instance held at boot (its file in /run/onionfleet/held), and starts after the hold ran', () => {
    const unit = lines(renderInstanceUnit('smp', '/usr/local/bin/smp-server'));
    expect(unit).toContain('ConditionPathExists=!/run/onionfleet/held/%i');
    expect(unit.find((l) => l.startsWith('After='))).toMatch(/ onionfleet-hold\.service(\s|$)/);
  });
});

describe('renderFirewallUnit', () => {
  it('loads the rules once, before the network, and keeps them when stopped', () => {
    const unit = lines(renderFirewallUnit());
    for (const line of ['Type=oneshot', 'RemainAfterExit=yes', `ExecStart=/usr/sbin/nft -f ${PATHS.firewallRules}`, 'WantedBy=multi-user.target']) {
      expect(unit).toContain(line);
    }
    expect(unit.some((l) => l.startsWith('Before=') && l.includes('network-pre.target'))).toBe(true);
    expect(unit.some((l) => l.startsWith('ExecStop'))).toBe(false);
  });
});

describe('renderFirewall', () => {
  it('drops the loopback-only ports on every interface but lo, in its own table only', () => {
    const rules = renderFirewall(desiredState({ tier: 'elevated', overTor: false, firewall: { loopbackOnlyPorts: [18443, 15223, 22, 15223] } }));
    expect(rules).toContain('\t\tiifname != "lo" tcp dport { 22, 15223, 18443 } counter drop\n');
    expect(rules).toContain('\t\ttype filter hook input priority 0; policy accept;\n');
    const tables = lines(rules).filter((l) => /\btable\b/.test(l) && !l.startsWith('#'));
    expect(tables).toEqual(['table inet onionfleet', 'delete table inet onionfleet', 'table inet onionfleet {']);
    expect(rules).not.toMatch(/flush ruleset/);
  });

  it('with SSH over Tor drops everything inbound but loopback, replies, neighbour discovery and DHCP answers (the manual guide)', () => {
    const rules = renderFirewall(desiredState({ tier: 'elevated', overTor: true, firewall: { loopbackOnlyPorts: [15223, 22] } }));
    const chain = lines(rules.slice(rules.indexOf('chain input'))).map((l) => l.trim());
    expect(chain.slice(1, 11)).toEqual([
      'type filter hook input priority 0; policy drop;',
      'iif "lo" accept',
      'ct state invalid drop',
      'ct state established,related accept',
      'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, packet-too-big } accept',
      'udp sport 67 udp dport 68 accept',
      'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
      'tcp dport { 22, 15223 } counter drop',
      'counter',
      '}',
    ]);
    expect(rules).not.toContain('policy accept');
    expect(rules, 'the elevated tier leaves egress alone').not.toContain('chain output');
  });

  it.each(['high', 'extreme'] as const)('at the %s tier lets only tor (and loopback) open connections off the device', (tier) => {
    const rules = renderFirewall(desiredState({ tier }));
    const chain = lines(rules.slice(rules.indexOf('chain output'))).map((l) => l.trim());
    expect(chain.slice(0, 11)).toEqual([
      'chain output {',
      'type filter hook output priority 0; policy drop;',
      'oif "lo" accept',
      'meta skuid "debian-tor" accept',
      'ct state established,related accept',
      'udp sport 68 udp dport 67 accept',
      'udp sport 546 udp dport 547 accept',
      'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept',
      'counter reject with icmpx admin-prohibited',
      '}',
      '}',
    ]);
    expect(rules).toContain('chain input');
  });

  it.each(['standard', 'elevated'] as const)('at the %s tier has no output chain', (tier) => {
    expect(renderFirewall(desiredState({ tier }))).not.toContain('chain output');
  });

  it('leaves an empty table when no port needs guarding', () => {
    const rules = renderFirewall(desiredState({ instances: [], overTor: false }));
    expect(rules).toContain('table inet onionfleet\ndelete table inet onionfleet\ntable inet onionfleet {\n}\n');
    expect(rules).not.toContain('chain');
  });
});

describe('renderSshdDropIn', () => {
  it('is null without SSH over Tor', () => {
    expect(renderSshdDropIn(desiredState({ tier: 'standard' }))).toBeNull();
    expect(renderSshdDropIn(desiredState({ tier: 'extreme', overTor: false }))).toBeNull();
  });

  it('listens on loopback, takes keys only and forwards nothing', () => {
    const dropIn = renderSshdDropIn(desiredState({ tier: 'elevated' }));
    expect(dropIn).not.toBeNull();
    const got = lines(dropIn ?? '');
    for (const line of ['ListenAddress 127.0.0.1', 'Port 22', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
      'PermitRootLogin no', 'AuthenticationMethods publickey', 'X11Forwarding no', 'AllowAgentForwarding no', 'AllowTcpForwarding no', 'PermitTunnel no',
      'MaxAuthTries 3', 'LoginGraceTime 30', 'ClientAliveInterval 300', 'ClientAliveCountMax 2']) {
      expect(got).toContain(line);
    }
    expect(got.filter((l) => l.startsWith('ListenAddress'))).toEqual(['ListenAddress 127.0.0.1']);
  });
});
