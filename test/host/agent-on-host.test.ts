/**
 * The agent on a real Debian 12 host (test/host-vm: systemd as PID 1, AppArmor, nftables, sshd, tor,
 * under qemu), in a fleet whose controller runs `serve --tor` on a private Tor network on loopback.
 *
 * The guest joins that network the only way it can reach anything: through one guest-to-host forward
 * (10.0.2.100:9001 → the first directory authority's ORPort), which its tor uses as its bridge; every
 * other hop is made by the network's relays. So the agent reaches the controller's NATS through its
 * onion, as in production, and the controller reaches the guest's SSH onion through the same network.
 *
 * The story: `device add --ssh` installs the agent on the real root (systemd units, user, directories);
 * it runs as `onionfleet` with no capabilities, its root applier behind a socket does what needs root
 * → `apply --wait` of a high-tier group (one SMP instance on the guest, the others on two simulated
 * devices) → the instance runs as a systemd unit, tor@default serves its onions as debian-tor under
 * AppArmor, the firewall unit holds the rules → the forwarded instance port and sshd are dropped
 * from outside, the device is managed only through its SSH onion → only tor opens connections off
 * the device → a DHCP lease is renewed through the firewall (and not with the renewals dropped) → IPv6
 * router solicitations and advertisements still get through → a reboot with the controller away
 * holds the instance back (the boot hold: no onion, no server) until the controller returns → a
 * reboot brings everything back with no controller action → the guard goes back by itself through the applier → `install-agent.sh
 * uninstall` leaves nothing install made. Behind the applier the agent still reports the servers'
 * metrics and sends the sealed backups the applier makes.
 */
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/processes.ts';
import { GUEST_FORWARD_ADDRESS, mustSucceed, quote } from '../host-vm/host-vm.ts';
import { BRIDGE_PORT, GuestFleet } from '../host-vm/guest-fleet.ts';

const DEVICE = 'pi-vm';
/** The first SMP instance's local port on a device (the compiler's base; the guest's portOffset is 0). */
const SMP_PORT = 15223;

let g: GuestFleet;
/** Set once beforeAll started it, for afterAll. */
let started: GuestFleet | null = null;
let fleet: string;
/** The guest's SSH onion, once the high tier moved sshd behind it. */
let sshOnion = '';
/** The guest's one instance (placed by the apply). */
let instance = '';

function fleetYaml(): string {
  return [
    'version: 1',
    'fleet: host-vm',
    'operators:',
    '  - id: alice',
    '  - id: bob',
    '  - id: carol',
    'devices:',
    // Room for one SMP instance (300 MB + 45 MB), not for the XFTP one (60 MB): the guest holds an SMP.
    `  - { id: ${DEVICE}, operator: alice, location: berlin, jurisdiction: DE, capacity: { memoryMb: 350 } }`,
    '  - { id: pi-sim-1, operator: bob, location: amsterdam, jurisdiction: NL, capacity: { memoryMb: 350 } }',
    '  - { id: pi-sim-2, operator: carol, location: vienna, jurisdiction: AT }',
    'groups:',
    '  - { id: press, tier: high, smp: 2, xftp: 1, members: [m] }',
    'members:',
    '  - { id: m, passphrase: true }',
    '',
  ].join('\n');
}

/** Runs `script` as root through the guest's SSH onion; resolves with stdout. */
const overOnion = (script: string, deadlineMs?: number): Promise<string> => g.mustOverOnion(sshOnion, script, deadlineMs);

/** Packets counted by the rule of `inet onionfleet` that contains `match` (e.g. `tcp dport`). */
function counter(table: string, match: string): number {
  const line = table.split('\n').find((l) => l.includes(match) && l.includes('counter packets'));
  const m = line === undefined ? null : /counter packets (\d+)/.exec(line);
  if (m?.[1] === undefined) throw new Error(`no counter on a rule with "${match}" in:\n${table}`);
  return Number(m[1]);
}

/** Connects from this machine to a forwarded guest port; resolves with what arrived before `done` says stop. */
async function knock(port: number, done: () => Promise<boolean>): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (b: Buffer) => (received += b.toString('latin1')));
  socket.on('error', () => undefined);
  try {
    await until(`the guest to count the packet to forwarded port ${port}`, async () => ((await done()) ? true : null), 120_000);
    return received;
  } finally {
    socket.destroy();
  }
}

beforeAll(async () => {
  started = await GuestFleet.start({ device: DEVICE, operator: 'alice', hostForwards: [SMP_PORT], simulated: ['pi-sim-1', 'pi-sim-2'] });
  g = started;
  fleet = g.tf.h.writeFleet(fleetYaml());
}, 900_000);

afterAll(async () => {
  await started?.stop();
}, 180_000);

describe('the agent on a real Debian host', () => {
  it('device add --ssh installs it on the real root and starts it under systemd as onionfleet, sandboxed, beside the root applier\'s socket; it reaches NATS through its tor', async () => {
    expect(g.enrolled.code, g.enrolled.stderr).toBe(0);
    expect(JSON.parse(g.enrolled.stdout)).toMatchObject({ added: DEVICE, agent: { manager: 'systemd' }, hostKey: g.vm.hostKey });
    const facts = await g.vm.must([
      'getent passwd onionfleet | cut -d: -f7',
      'stat -c "%n %a %G" /etc/onionfleet /var/log/onionfleet /var/lib/onionfleet /etc/onionfleet/agent.json',
      'systemctl is-enabled onionfleet-agent.service',
      'systemctl is-active onionfleet-agent.service onionfleet-apply.socket',
      'echo "unit-user $(systemctl show -p User --value onionfleet-agent.service)"',
      'pid=$(systemctl show -p MainPID --value onionfleet-agent.service)',
      'echo "process-user $(ps -o user= -p "$pid")"',
      'echo "uid-of-onionfleet $(id -u onionfleet)"',
      'grep -E "^(Uid|Gid|NoNewPrivs|CapEff|CapBnd|CapPrm):" /proc/$pid/status',
      'stat -c "socket %U %G %a" /run/onionfleet-apply.sock',
      // Its only writable places: its own state directories (the guard's files, the metrics textfile).
      'stat -c "state %n %U %a" /var/lib/onionfleet/agent /var/lib/onionfleet/metrics',
      // ProtectSystem=strict: the whole file system is read-only in the agent's mount namespace, even to root.
      'nsenter -t "$pid" -m sh -c "touch /etc/.probe 2>&1; touch /var/lib/onionfleet/.probe 2>&1; touch /usr/local/bin/.probe 2>&1" || true',
      // The onionfleet user itself (outside the sandbox, with its own groups) can change nothing the applier does.
      'as() { setpriv --reuid=onionfleet --regid=onionfleet --init-groups "$@"; }',
      'attempt() { what=$1; shift; if out=$("$@" 2>&1); then echo "$what: done"; else echo "$what: refused: $(echo "$out" | head -1)"; fi; }',
      'attempt torrc as sh -c "echo x >>/etc/tor/torrc"',
      'attempt nft as nft add table inet onionfleet-probe',
      'attempt systemctl as systemctl restart ssh.service',
      'attempt useradd as useradd onionfleet-probe',
      'attempt keys as ls /etc/onionfleet/keys',
    ].join('\n'));
    expect(facts).toContain('/usr/sbin/nologin');
    expect(facts).toMatch(/\/etc\/onionfleet 750 onionfleet/);
    expect(facts).toMatch(/\/var\/log\/onionfleet 750 onionfleet/);
    expect(facts).toMatch(/\/var\/lib\/onionfleet 750 onionfleet/);
    expect(facts).toMatch(/\/etc\/onionfleet\/agent\.json 600 /);
    expect(facts).toMatch(/^enabled$/m);
    expect(facts).toMatch(/^active$/m);
    expect(facts).toMatch(/^active\nactive$/m);
    // The network-facing agent runs as onionfleet, with no capability and no way to gain one.
    expect(facts).toContain('unit-user onionfleet');
    expect(facts).toContain('process-user onionfleet');
    const uid = /uid-of-onionfleet (\d+)/.exec(facts)?.[1] ?? 'none';
    expect(facts).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(facts).toMatch(/^CapEff:\s+0+$/m);
    expect(facts).toMatch(/^CapPrm:\s+0+$/m);
    expect(facts).toMatch(/^CapBnd:\s+0+$/m);
    expect(facts).toMatch(/NoNewPrivs:\s+1/);
    expect(facts).toContain('socket root onionfleet 660');
    expect(facts).toContain('state /var/lib/onionfleet/agent onionfleet 755');
    expect(facts).toContain('state /var/lib/onionfleet/metrics onionfleet 755');
    expect(facts.match(/Read-only file system/g)).toHaveLength(3);
    expect(facts).toMatch(/^torrc: refused: .*Permission denied/m);
    expect(facts).toMatch(/^nft: refused: .*Operation not permitted/m);
    expect(facts).toMatch(/^systemctl: refused: .*(Access denied|authentication required)/im);
    expect(facts).toMatch(/^useradd: refused: .*(Permission denied|cannot lock|may not)/im);
    expect(facts).toMatch(/^keys: refused: .*Permission denied/m);
    const config = JSON.parse(await g.vm.must('cat /etc/onionfleet/agent.json')) as { root: string; nats: { url: string } };
    expect(config.root).toBe('/');
    expect(config.nats.url).toMatch(/^nats:\/\/[a-z2-7]{56}\.onion:4222$/);
    // Its first status arrives through the guest's tor and the NATS onion.
    const status = await until('the guest\'s first status on the bus', () => g.status(), 300_000);
    expect(status.device).toBe(DEVICE);
  }, 400_000);

  it('apply --wait: one systemd unit per instance as simplex, tor@default as debian-tor under AppArmor owning every onion dir, the firewall loaded by its unit', async () => {
    const applied = await g.tf.h.apply(fleet, '--wait', '--timeout', '540');
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    expect(applied.stderr).toMatch(/converged 3\/3 devices/);
    const placements = JSON.parse((await g.cli('plan', '-f', fleet, '--deployed', '--json')).stdout) as { placements: { instance: string; device: string; kind: string }[] };
    const mine = placements.placements.filter((p) => p.device === DEVICE).map((p) => p.instance);
    expect(mine).toHaveLength(1);
    instance = mine[0] ?? '';
    expect(instance).toMatch(/^press-smp-\d\d$/);

    // sshd now listens on loopback only and the firewall drops everything from the network: from here
    // on the guest is reached through its SSH onion (the controller's tor holds the key to it).
    sshOnion = (await g.status())?.sshOnion ?? '';
    expect(sshOnion).toMatch(/^[a-z2-7]{56}\.onion$/);
    const facts = await overOnion([
      'systemctl list-units --no-legend --plain "onionfleet-smp@*" "onionfleet-xftp@*" | awk \'{print $1, $3, $4}\'',
      `ps -o user= -p $(systemctl show -p MainPID --value onionfleet-smp@${instance}.service)`,
      'systemctl is-active tor@default.service onionfleet-firewall.service',
      'systemctl is-enabled tor.service onionfleet-firewall.service',
      'tor=$(systemctl show -p MainPID --value tor@default.service)',
      'echo "tor-user $(ps -o user= -p $tor)"',
      'echo "tor-confinement $(cat /proc/$tor/attr/current)"',
      'aa-status --enabled && echo apparmor-enabled',
      'for d in /var/lib/tor/onionfleet/*; do stat -c "onion-dir %n %U %a" "$d"; done',
      'stat -c "client-auth %n %U %a" /var/lib/tor/onionfleet-client-auth /var/lib/tor/onionfleet-client-auth/controller.auth_private',
      'nft list table inet onionfleet >/dev/null && echo firewall-table',
      `grep -h "^socks_mode" /etc/opt/simplex/${instance}/smp-server.ini`,
      'grep -h "^VanguardsLiteEnabled" /etc/tor/torrc.d/onionfleet.conf',
      `stat -c "ini %U %a" /etc/opt/simplex/${instance}/smp-server.ini`,
      // The steps ran in the root applier, one process per request of the agent; the agent ran none.
      'echo "applier-steps $(journalctl -u "onionfleet-apply@*" -o cat --no-pager | grep -c "\\"step\\":\\"recordRevision\\"")"',
      'echo "agent-steps $(journalctl -u onionfleet-agent.service -o cat --no-pager | grep -c "\\"step\\":")"',
    ].join('\n'));
    expect(facts.split('\n')).toContain(`onionfleet-smp@${instance}.service active running`);
    expect(facts.match(/^onionfleet-(smp|xftp)@/gm)).toHaveLength(1);
    expect(facts).toMatch(/^simplex$/m);
    expect(facts).toMatch(/^active\nactive$/m);
    expect(facts).toMatch(/^enabled\nenabled$/m);
    expect(facts).toContain('tor-user debian-tor');
    expect(facts).toContain('tor-confinement system_tor (enforce)');
    expect(facts).toContain('apparmor-enabled');
    const dirs = facts.split('\n').filter((l) => l.startsWith('onion-dir '));
    expect(dirs.map((l) => l.split(' ')[1]).sort()).toEqual([`/var/lib/tor/onionfleet/${instance}`, '/var/lib/tor/onionfleet/ssh']);
    // 2700: /var/lib/tor is setgid debian-tor, its subdirectories inherit the bit.
    for (const d of dirs) expect(d).toMatch(/ debian-tor 2?700$/);
    expect(facts).toMatch(/client-auth \/var\/lib\/tor\/onionfleet-client-auth debian-tor 2?700/);
    expect(facts).toMatch(/client-auth \/var\/lib\/tor\/onionfleet-client-auth\/controller\.auth_private debian-tor 600/);
    expect(facts).toContain('firewall-table');
    expect(facts).toContain('socks_mode: always');
    expect(facts).toContain('VanguardsLiteEnabled 1');
    expect(facts).toContain('ini simplex 600');
    expect(Number(/applier-steps (\d+)/.exec(facts)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(facts).toContain('agent-steps 0');
  }, 600_000);

  it('enforces the firewall, seen from outside: the instance port and sshd are dropped; the device answers through its onion and the bus', async () => {
    const table = () => overOnion('nft list table inet onionfleet');
    // The instance listens (its loopback answers with the SMP server hello) …
    const local = await overOnion(`python3 -c 'import socket; s=socket.create_connection(("127.0.0.1", ${SMP_PORT}), timeout=10); print("loopback-connected")'`);
    expect(local).toContain('loopback-connected');
    // … but a connection from this machine to its forwarded port reaches the guest only to be dropped by
    // the rule that lists it; nothing comes back.
    const before = counter(await table(), 'tcp dport {');
    const fromOutside = await knock(g.vm.forward(SMP_PORT), async () => counter(await table(), 'tcp dport {') > before);
    expect(fromOutside).toBe('');
    // sshd no longer answers on the network: the forwarded ssh port gets no banner, the same rule drops it.
    const beforeSsh = counter(await table(), 'tcp dport {');
    const banner = await knock(g.vm.sshPort, async () => counter(await table(), 'tcp dport {') > beforeSsh);
    expect(banner).not.toContain('SSH-');
    await expect(g.vm.connect({ timeoutMs: 15_000 })).rejects.toThrow();
    // The bus still hears it: a fresh heartbeat, converged.
    const since = Date.now();
    const fresh = await until('a status sent after the firewall checks', async () => {
      const s = await g.status();
      return s !== null && Date.parse(s.observedAt) >= since - 2_000 ? s : null;
    }, 180_000);
    expect(fresh.converged).toBe(true);
    expect(fresh.instances.every((i) => i.healthy)).toBe(true);
  }, 600_000);

  it('behind its applier the agent still reports its metrics and sends its sealed backups (the high tier allows identity copies)', async () => {
    // The server's metrics file, readable only by root where it lives, reaches the status through the view.
    const status = await until('a status with the instance\'s metrics', async () => {
      const s = await g.status();
      return s?.metrics?.instances.some((i) => i.id === instance && i.version !== null) === true ? s : null;
    }, 400_000);
    expect(status.metrics?.agent.reconciles).toBeGreaterThan(0);
    // The backups are sealed by the applier (root reads the onion key and the server's keys) and sent by
    // the agent; the backup age in its figures is the applier's.
    expect(status.metrics?.agent.backupAgeSeconds).toEqual(expect.any(Number));
    const listed = await g.cli('backup', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { backups: { device: string; instance: string | null; ok: boolean; reason: string | null }[] }).backups;
    expect(rows.filter((r) => r.device === DEVICE)).toEqual([expect.objectContaining({ device: DEVICE, instance, ok: true })]);
    const facts = await overOnion([
      `stat -c "view %U %G %a" /var/lib/onionfleet/view/var/opt/simplex/${instance}/smp-server-metrics.txt`,
      'stat -c "textfile %U %a" /var/lib/onionfleet/metrics/onionfleet.prom',
      'grep -c "^simplex_smp_" /var/lib/onionfleet/metrics/onionfleet.prom',
      'echo "backups-sealed $(journalctl -u "onionfleet-apply@*" -o cat --no-pager | grep -c "\\"reason\\":\\"identity\\"")"',
    ].join('\n'));
    expect(facts).toContain('view root onionfleet 640');
    expect(facts).toContain('textfile onionfleet 644');
    expect(Number(/^(\d+)$/m.exec(facts)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(/backups-sealed (\d+)/.exec(facts)?.[1] ?? 0)).toBeGreaterThan(0);
  }, 600_000);

  it('lets only tor open connections off the device (high tier): another user and root are refused at once, debian-tor connects', async () => {
    const connectAs = (prefix: string) => `${prefix} python3 -c 'import socket
try:
    socket.create_connection(("${GUEST_FORWARD_ADDRESS}", ${BRIDGE_PORT}), timeout=30).close(); print("connected")
except OSError as e:
    print("errno", e.errno)'`;
    const out = await overOnion([
      'before=$(nft list chain inet onionfleet output | grep -o "counter packets [0-9]*" | tail -1)',
      `echo "nobody: $(${connectAs('setpriv --reuid=nobody --regid=nogroup --clear-groups')})"`,
      `echo "root: $(${connectAs('')})"`,
      `echo "debian-tor: $(${connectAs('setpriv --reuid=debian-tor --regid=debian-tor --clear-groups')})"`,
      'echo "counter-before: $before"',
      'echo "counter-after: $(nft list chain inet onionfleet output | grep -o "counter packets [0-9]*" | tail -1)"',
    ].join('\n'));
    // EHOSTUNREACH: the output chain rejects with "administratively prohibited".
    expect(out).toContain('nobody: errno 113');
    expect(out).toContain('root: errno 113');
    expect(out).toContain('debian-tor: connected');
    const count = (label: string) => Number(new RegExp(`${label}: counter packets (\\d+)`).exec(out)?.[1] ?? NaN);
    expect(count('counter-after')).toBeGreaterThan(count('counter-before'));
  }, 400_000);

  // DHCPv4 renewal behind the firewall. qemu's user-mode DHCP server (restrict=on) never answers a
  // renewal's unicast REQUEST, even with no firewall at all; and the exchanges it does answer (DISCOVER,
  // the first REQUEST, a rebinding) go through networkd's raw packet socket, which nftables never sees.
  // So the guest gets a second link whose far end is a network namespace with a DHCP server of our own
  // (test/host-vm/dhcp-server.py): short leases, and it extends a lease only through a renewal — unicast
  // UDP from the client's address out through the output chain, the ACK back in through the input
  // chain. The address's lifetime starting again proves the whole exchange got through.
  it('keeps DHCP working behind the strict firewall: networkd renews a lease by unicast, and the ACK comes back in', async () => {
    const server = readFileSync(new URL('../host-vm/dhcp-server.py', import.meta.url), 'utf8');
    const out = await overOnion([
      'ns=ofdhcp; link=ofdhcp0',
      'cleanup() { kill "$srv" 2>/dev/null; ip netns del "$ns" 2>/dev/null; rm -f /run/systemd/network/05-ofdhcp.network; networkctl reload; }',
      'trap cleanup EXIT',
      `cat >/tmp/dhcp-server.py <<'PYEOF'\n${server}PYEOF`,
      'ip netns add "$ns"',
      'ip link add "$link" type veth peer name ofdhcp1',
      'ip link set ofdhcp1 netns "$ns"',
      'ip -n "$ns" addr add 192.168.77.1/24 dev ofdhcp1',
      'ip -n "$ns" link set lo up',
      'ip -n "$ns" link set ofdhcp1 up',
      'ip netns exec "$ns" python3 /tmp/dhcp-server.py ofdhcp1 192.168.77.1 192.168.77.50 40 >/tmp/dhcp-server.log 2>&1 &',
      'srv=$!',
      'mkdir -p /run/systemd/network',
      String.raw`printf '[Match]
Name=ofdhcp0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseDNS=no
UseRoutes=no
UseNTP=no
UseHostname=no
UseDomains=no
' >/run/systemd/network/05-ofdhcp.network`,
      'networkctl reload',
      'lft() { ip -4 -o addr show dev "$link" | grep -o "valid_lft [0-9]*" | grep -o "[0-9]*"; }',
      // Bound (the first exchange), then renewed at T1 (half the lease) …
      'for i in $(seq 1 240); do grep -q "^ack renewing" /tmp/dhcp-server.log && break; sleep 0.5; done',
      'echo "lft-at-renewal $(lft)"',
      // … and the client took the ACK: the address's lifetime starts again (without it, it only runs down).
      'after=0; for i in $(seq 1 60); do after=$(lft); [ -n "$after" ] && [ "$after" -gt 30 ] && break; sleep 0.5; done',
      'echo "lft-after-renewal $after"',
      'echo "address $(ip -4 -o addr show dev "$link" | grep -o "inet [0-9.]*")"',
      // The control: a rule that drops the client's renewals (what a firewall without the DHCP line would
      // do). The next renewal (20 s on) never reaches the server, and the lifetime only runs down.
      'nft insert rule inet onionfleet output udp dport 67 counter drop comment \\"dhcp-control\\"',
      'renewed=$(grep -c "^ack renewing" /tmp/dhcp-server.log)',
      'for i in $(seq 1 120); do l=$(lft); [ -n "$l" ] && [ "$l" -lt 12 ] && break; sleep 0.5; done',
      'echo "lft-while-blocked $(lft)"',
      'echo "renewals-while-blocked $(( $(grep -c "^ack renewing" /tmp/dhcp-server.log) - renewed ))"',
      'echo "blocked-$(nft -a list chain inet onionfleet output | grep dhcp-control | grep -o "counter packets [0-9]*")"',
      'nft delete rule inet onionfleet output handle $(nft -a list chain inet onionfleet output | grep dhcp-control | grep -o "handle [0-9]*" | grep -o "[0-9]*")',
      'echo "--- server"; cat /tmp/dhcp-server.log',
      'echo "reject-counter $(nft list chain inet onionfleet output | grep -o "counter packets [0-9]*" | tail -1)"',
    ].join('\n'), 300_000);
    expect(out).toContain('address inet 192.168.77.50');
    expect(out).toMatch(/^offer$/m);
    expect(out).toMatch(/^ack selecting$/m);
    // The server got the unicast renewal (the output chain let networkd's REQUEST out) …
    expect(out).toMatch(/^ack renewing 192\.168\.77\.50$/m);
    // … and the client got the ACK (the input chain let it in): the lease's 40 s start again.
    expect(Number(/lft-after-renewal (\d+)/.exec(out)?.[1] ?? 0)).toBeGreaterThan(30);
    // With the renewals dropped they never arrive, so the test above would fail behind such a firewall.
    expect(out).toMatch(/^renewals-while-blocked 0$/m);
    expect(Number(/blocked-counter packets (\d+)/.exec(out)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(/lft-while-blocked (\d+)/.exec(out)?.[1] ?? 99)).toBeLessThan(12);
  }, 400_000);

  it('keeps the network up behind the strict firewall: a router solicitation goes out, the advertisement comes in and refreshes the IPv6 route', async () => {
    const out = await overOnion([
      'ifname=$(ls /sys/class/net | grep -v "^lo$" | head -1)',
      'expiry() { ip -6 route show default dev "$ifname" | grep -o "expires [0-9]*" | grep -o "[0-9]*"; }',
      'before=$(expiry)',
      'echo "route-before: $(ip -6 route show default dev "$ifname")"',
      `python3 - "$ifname" <<'EOF'
import select, socket, struct, sys, time
idx = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.sendto(struct.pack('!BBHI', 133, 0, 0, 0), ('ff02::2', 0, 0, idx))
deadline = time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([s], [], [], 1)
    if ready and s.recvfrom(2048)[0][0] == 134:
        print('router-advert received'); break
else:
    print('no router advert')
EOF`,
      // networkd's own NDisc socket got it too: the route's lifetime starts again.
      'after=$before; for i in $(seq 1 120); do after=$(expiry); [ -n "$after" ] && [ "$after" -gt "$((before + 2))" ] && break; sleep 0.5; done',
      'echo "route-refreshed: $before -> $after"',
      '[ -n "$after" ] && [ "$after" -gt "$((before + 2))" ] && echo route-refreshed-yes',
      'ip -6 -o addr show dev "$ifname" | grep -v " scope link" | grep -q inet6 && echo ipv6-address',
      'ip -4 -o addr show dev "$ifname" | grep -q 10.0.2.15 && echo ipv4-address',
    ].join('\n'));
    expect(out).toContain('router-advert received');
    expect(out).toContain('route-refreshed-yes');
    expect(out).toContain('ipv6-address');
    expect(out).toContain('ipv4-address');
  }, 400_000);

  it('holds its copyable instance back at a boot while the controller is away (unit not started, onion not in tor\'s config); the controller\'s return releases it', async () => {
    // A way to the guest's SSH onion that does not need serve: a tor of this test's own on the private
    // network, with a copy of the controller's client keys.
    const auth = mkdtempSync(join(tmpdir(), 'onionfleet-admin-auth-'));
    cpSync(join(g.tf.h.state, 'tor/client-auth'), auth, { recursive: true });
    chmodSync(auth, 0o700);
    const probeTor = await g.tf.net.startTor({ name: 'admin-probe', dir: mkdtempSync(join(tmpdir(), 'onionfleet-admin-tor-')), socks: true, lines: [`ClientOnionAuthDir ${auth}`] });
    try {
      await probeTor.waitBootstrapped(180_000);
      const socks = { host: '127.0.0.1', port: probeTor.socksPort ?? 0 };
      const viaProbe = async (script: string, deadlineMs = 240_000): Promise<string> => {
        const session = await until('an SSH session through the guest\'s onion (the test\'s own tor)', async () => {
          try {
            return await g.vm.connect({ user: 'admin', host: sshOnion, port: 22, socks, timeoutMs: 120_000 });
          } catch {
            return null;
          }
        }, deadlineMs);
        try {
          return mustSucceed(await session.exec(`sudo -n sh -c ${quote(script)}`), script);
        } finally {
          session.close();
        }
      };
      const bootBefore = (await viaProbe('cat /proc/sys/kernel/random/boot_id')).trim();
      await g.tf.h.stopServe();
      await viaProbe('systemd-run --on-active=1 systemctl reboot');
      await until('the guest to answer through its onion after the reboot (the controller away)', async () => {
        try {
          const id = (await viaProbe('cat /proc/sys/kernel/random/boot_id', 60_000)).trim();
          return id !== bootBefore ? id : null;
        } catch {
          return null;
        }
      }, 600_000);
      const held = await viaProbe([
        `echo "unit $(systemctl is-active onionfleet-smp@${instance}.service)"`,
        `echo "skipped $(journalctl -b -u onionfleet-smp@${instance}.service -o cat --no-pager | grep -c "unmet condition")"`,
        'echo "hold $(systemctl is-active onionfleet-hold.service) $(systemctl is-enabled onionfleet-hold.service)"',
        'echo "tor $(systemctl is-active tor@default.service)"',
        'echo "hold-done $(systemctl show -p ExecMainExitTimestampMonotonic --value onionfleet-hold.service)"',
        'echo "tor-start $(systemctl show -p ExecMainStartTimestampMonotonic --value tor@default.service)"',
        'echo "markers $(ls /run/onionfleet/held | tr "\n" " ")"',
        `echo "onion-in-torrc $(grep -c "^HiddenServiceDir /var/lib/tor/onionfleet/${instance}$" /etc/tor/torrc.d/onionfleet.conf)"`,
        'echo "ssh-in-torrc $(grep -c "^HiddenServiceDir /var/lib/tor/onionfleet/ssh$" /etc/tor/torrc.d/onionfleet.conf)"',
        'echo "agent $(systemctl is-active onionfleet-agent.service)"',
      ].join('\n'));
      expect(held).toContain('unit inactive');
      expect(Number(/skipped (\d+)/.exec(held)?.[1] ?? 0)).toBeGreaterThan(0);
      expect(held).toContain('hold active enabled');
      expect(held).toContain('tor active');
      // The hold was done before tor started: tor never had the held onion in its configuration.
      expect(Number(/hold-done (\d+)/.exec(held)?.[1] ?? NaN)).toBeLessThanOrEqual(Number(/tor-start (\d+)/.exec(held)?.[1] ?? NaN));
      expect(held).toMatch(new RegExp(`markers (held\\.json ${instance}|${instance} held\\.json) `));
      expect(held).toContain('onion-in-torrc 0');
      expect(held).toContain('ssh-in-torrc 1');
      expect(held).toContain('agent active');

      // The controller comes back: the agent's first desired state releases the instance.
      const back = Date.now();
      await g.tf.h.startServe('--tor', '--tor-config', join(g.tf.h.dir, 'tor-network.conf'));
      const status = await until('a converged, healthy status after the controller came back', async () => {
        const s = await g.status();
        return s !== null && Date.parse(s.observedAt) > back && s.converged && s.instances.length === 1 && s.instances.every((i) => i.healthy) ? s : null;
      }, 600_000);
      expect(status.appliedRevision).toBe(status.desiredRevision);
      const released = await overOnion([
        `systemctl is-active onionfleet-smp@${instance}.service`,
        'ls /run/onionfleet/held',
        `grep -c "^HiddenServiceDir /var/lib/tor/onionfleet/${instance}$" /etc/tor/torrc.d/onionfleet.conf`,
        `python3 -c 'import json; print("released-by", [r["by"] for r in json.load(open("/run/onionfleet/held/held.json"))["released"]])'`,
      ].join('\n'));
      expect(released.trim().split('\n')).toEqual(['active', 'held.json', '1', "released-by ['controller']"]);
    } finally {
      await probeTor.stop();
      rmSync(auth, { recursive: true, force: true });
    }
  }, 1_800_000);

  it('comes back after a reboot with no controller action: agent, tor, instance and firewall, and the status says converged', async () => {
    const bootBefore = (await overOnion('cat /proc/sys/kernel/random/boot_id')).trim();
    await overOnion('systemd-run --on-active=1 systemctl reboot');
    const after = await until('the guest to answer through its onion after the reboot', async () => {
      try {
        const id = (await overOnion('cat /proc/sys/kernel/random/boot_id', 60_000)).trim();
        return id !== bootBefore ? id : null;
      } catch {
        return null;
      }
    }, 600_000);
    expect(after).not.toBe(bootBefore);
    const bootTime = Number((await overOnion('awk \'/^btime/ {print $2}\' /proc/stat')).trim()) * 1000;
    const status = await until('a converged status sent after the boot', async () => {
      const s = await g.status();
      return s !== null && Date.parse(s.observedAt) > bootTime && s.converged && s.instances.length === 1 && s.instances.every((i) => i.healthy) ? s : null;
    }, 300_000);
    expect(status.appliedRevision).toBe(status.desiredRevision);
    const units = await overOnion(`systemctl is-active onionfleet-agent.service onionfleet-apply.socket tor@default.service onionfleet-firewall.service onionfleet-smp@${instance}.service; nft list chain inet onionfleet output | grep -c "policy drop"; ps -o user= -p $(systemctl show -p MainPID --value onionfleet-agent.service)`);
    expect(units.trim().split('\n')).toEqual(['active', 'active', 'active', 'active', 'active', '1', 'onionfleet']);
    // sshd is still off the network: the rules were loaded before it.
    await expect(g.vm.connect({ timeoutMs: 15_000 })).rejects.toThrow();
  }, 900_000);

  it('goes back by itself through the applier: a revision that cannot apply (its pinned binary cannot download) is undone, the applier re-applies the last good state it noted', async () => {
    const before = (await g.status())?.appliedRevision ?? 0;
    expect(before).toBeGreaterThan(0);
    // A pin no binary matches: the guest (no binary override) must download it, through a Tor network
    // with no exit to the internet, and fails; the simulated devices run the doubles by override.
    const bad = g.tf.h.writeFleet(fleetYaml().replace('members:\n', 'binaries:\n  smp-server: { version: 6.4.5, url: "https://downloads.example.net/smp-server", sha256: "' + '0'.repeat(64) + '" }\nmembers:\n'));
    const applied = await g.tf.h.apply(bad, '--strategy', 'all-at-once', '--wait', '--timeout', '600');
    expect(applied.code, applied.stderr + applied.stdout).not.toBe(0);
    const status = await until('the guest to report it went back by itself', async () => {
      const s = await g.status();
      return s?.reverted != null && s.appliedRevision === before && s.instances.length === 1 && s.instances.every((i) => i.healthy) ? s : null;
    }, 600_000);
    expect(status.reverted).toMatchObject({ to: before });
    expect(status.reverted?.revision).toBeGreaterThan(before);
    const facts = await overOnion([
      // The applier went back to the state it noted itself; the agent only asked (it ran no step).
      `echo "applier-went-back $(journalctl -u "onionfleet-apply@*" -o cat --no-pager | grep -c "going back to revision ${before} (the agent's guard)")"`,
      'echo "agent-steps $(journalctl -u onionfleet-agent.service -o cat --no-pager | grep -c "\\"step\\":")"',
      'stat -c "last-good %U %a" /var/lib/onionfleet/last-good.json',
      'stat -c "guard %U %a" /var/lib/onionfleet/agent/var/lib/onionfleet/reverted.json',
      `python3 -c 'import json; print("running", json.load(open("/var/lib/onionfleet/desired.json"))["revision"])'`,
    ].join('\n'));
    expect(facts).toMatch(/applier-went-back [1-9]/);
    expect(facts).toContain('agent-steps 0');
    expect(facts).toContain('last-good root 600');
    expect(facts).toContain('guard onionfleet 600');
    expect(facts).toContain(`running ${before}`);
  }, 1_200_000);

  it('install-agent.sh uninstall leaves nothing behind that install made', async () => {
    const manifest = await overOnion('cat /usr/local/lib/onionfleet/install.manifest');
    const entries = manifest.trim().split('\n').map((l) => l.split(' ') as [string, string]);
    expect(entries.map(([kind]) => kind)).toContain('user');
    const out = await overOnion([
      'sh /usr/local/lib/onionfleet/install-agent.sh uninstall',
      ...entries.filter(([kind]) => kind !== 'user').map(([kind, path]) => `[ -e ${quote(path)} ] && echo "left: ${kind} ${path}" || true`),
      'getent passwd onionfleet && echo "left: user onionfleet" || true',
      'getent group onionfleet && echo "left: group onionfleet" || true',
      'systemctl show -p LoadState --value onionfleet-agent.service onionfleet-apply.socket',
      'for f in /run/onionfleet-apply.sock /run/lock/onionfleet-apply.lock; do [ -e "$f" ] && echo "left: $f"; done; true',
      'ps -eo args= | grep "^/usr/local/bin/node /usr/local/lib/onionfleet/" && echo "left: agent process" || true',
    ].join('\n'));
    expect(out).toContain('removed the onionfleet agent below /');
    expect(out).not.toContain('left:');
    expect(out.match(/^not-found$/gm)).toHaveLength(2);
  }, 400_000);
});
