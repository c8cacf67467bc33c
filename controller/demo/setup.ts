/**
 * The files the demo writes before anything runs: the members' age identities and the fleet.yaml
 * that names their recipients, and each simulated Pi's agent config (as the operator of a real Pi
 * would write /etc/onionfleet/agent.json), pointing at the SimpleX test doubles.
 */
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { packageFile } from '#shared/os/package-root.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { LOCAL_PORT_BASE } from '../compile/index.ts';
import type { ControllerIdentity } from '../state/identity.ts';
import { DEMO_MEMBERS, demoFleetYaml } from './fleet.ts';
import type { DemoLayout } from './layout.ts';
import type { DeviceNetwork } from './network.ts';

/**
 * The programs the demo runs, from this checkout or installed package (the package ships the
 * doubles). The controller never imports the agent: it runs it.
 */
export const DEMO_BINS = {
  onionfleet: packageFile(import.meta.url, 'controller/cli/bin.js'),
  agent: packageFile(import.meta.url, 'agent/cli/bin.js'),
  /** TEST DOUBLES of the SimpleX servers (the real ones cannot be built here). */
  smpServer: packageFile(import.meta.url, 'test/doubles/smp-server'),
  xftpServer: packageFile(import.meta.url, 'test/doubles/xftp-server'),
} as const;

/** @throws {OperationFailedError} `demo-needs-checkout` when a program the demo runs is missing. */
export function checkDemoBins(): void {
  const missing = Object.values(DEMO_BINS).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new OperationFailedError('demo-needs-checkout', `the demo needs ${missing.join(', ')}`, { hint: 'run the demo from a checkout of onionfleet (after `npm ci`) or from the installed package' });
  }
}

/**
 * Writes `members/<member>.key` (0600, in age-keygen's format) for every demo member and the
 * fleet.yaml with their recipients. The identities are never printed.
 */
export async function writeMembersAndFleet(layout: DemoLayout, fleet: string): Promise<void> {
  await mkdir(layout.members, { recursive: true, mode: 0o700 });
  const recipients = new Map<string, string>();
  for (const member of DEMO_MEMBERS) {
    const { identity, recipient } = await generateAgeIdentity();
    const text = `# created: ${new Date().toISOString().slice(0, 19)}Z (onionfleet demo member ${member})\n# public key: ${recipient}\n${identity}\n`;
    await writeFileAtomic(layout.memberKey(member), text, { mode: 0o600 });
    recipients.set(member, recipient);
  }
  await writeFileAtomic(layout.fleet, demoFleetYaml(recipients, fleet));
}

/** A simulated Pi's agent config, as `onionfleet-agent run --config` reads it; `network` gives its `nats` (and `tor`). */
export function agentConfig(layout: DemoLayout, device: string, portOffset: number, controller: ControllerIdentity, network: DeviceNetwork) {
  return {
    root: layout.device(device).root,
    device,
    services: 'supervisor',
    system: 'sandbox',
    portOffset,
    heartbeatSeconds: 5,
    // The servers rewrite their metrics files every 5 s (a Pi's default is 60), so `onionfleet metrics` shows them soon.
    metrics: { intervalSeconds: 5 },
    binaries: { 'smp-server': DEMO_BINS.smpServer, 'xftp-server': DEMO_BINS.xftpServer },
    controller: { signingKey: controller.signingKey, ageRecipient: controller.ageRecipient },
    nats: network.nats,
    ...(network.tor === undefined ? {} : { tor: network.tor }),
  };
}

const BAND = 100; // ports of one simulated Pi: LOCAL_PORT_BASE + offset … + BAND
const PROBED = 4; // the first ports of each kind, checked free before the demo takes the band
const MAX_OFFSET = 40_000; // the agent config's limit
/** Linux's default, when /proc does not say. */
const EPHEMERAL_DEFAULT: readonly [number, number] = [32768, 60999];

/**
 * One port offset per device, so simulated Pis sharing this host never share a port: bands of
 * {@link BAND} ports, from a random start, whose first ports are free now. The bands stay outside
 * the kernel's ephemeral port range: the ports every `auto` listener (tor's control and SOCKS
 * ports) and outgoing connection take come from there, and one of them could take a band's port
 * after the check.
 * @throws {OperationFailedError} `demo-no-ports` when no free bands were found.
 */
export async function choosePortOffsets(count: number): Promise<number[]> {
  const starts = bandStarts(count, await ephemeralRange());
  for (let attempt = 0; attempt < 20 && starts.length > 0; attempt++) {
    const start = starts[randomInt(starts.length)] ?? 0;
    const offsets = Array.from({ length: count }, (_, i) => start + i * BAND);
    const ports = offsets.flatMap((o) => Object.values(LOCAL_PORT_BASE).flatMap((base) => Array.from({ length: PROBED }, (_, i) => base + o + i)));
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return offsets;
  }
  throw new OperationFailedError('demo-no-ports', 'found no free local ports for the simulated Pis', { hint: 'stop other demos or tests on this machine and run again' });
}

/** The offsets where `count` bands of every kind fit below 65536 and outside `ephemeral`. */
function bandStarts(count: number, [low, high]: readonly [number, number]): number[] {
  const starts: number[] = [];
  for (let start = 0; start + (count - 1) * BAND <= MAX_OFFSET; start += BAND) {
    const fits = Object.values(LOCAL_PORT_BASE).every((base) => {
      const first = base + start;
      const last = first + count * BAND - 1;
      return last <= 65535 && (last < low || first > high);
    });
    if (fits) starts.push(start);
  }
  return starts;
}

/** The kernel's ephemeral port range (`ip_local_port_range`). */
async function ephemeralRange(): Promise<readonly [number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const [low, high] = text.trim().split(/\s+/).map(Number);
  return low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high) && low <= high ? [low, high] : EPHEMERAL_DEFAULT;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => { resolve(false); });
    probe.listen(port, '127.0.0.1', () => probe.close(() => { resolve(true); }));
  });
}
