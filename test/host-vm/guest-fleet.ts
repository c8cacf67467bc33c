/**
 * A fleet with one real host in it: a private Tor network on loopback with the controller's `serve
 * --tor` (TorFleet), and the host-VM guest enrolled with `onionfleet device add --ssh` on its real
 * root. Used by the host suite (test/host) and `npm run bench -- host-apply`.
 *
 * The guest joins the private network the only way it can reach anything: one guest-to-host forward,
 * 10.0.2.100:9001 → the first directory authority's ORPort, which the guest's tor uses as its bridge;
 * every further hop is made by the network's relays on this machine. So the agent reaches the
 * controller's NATS through its onion, as in production, and the controller reaches the guest's SSH
 * onion through the same network.
 *
 * Before enrolling, the guest gets what its operator would do (docs/operator-guide.md): the `simplex`
 * account, a sudo user `admin` with the test's key (root cannot log in once SSH is over Tor), and the
 * test's stand-ins: the SimpleX doubles at /usr/local/bin/{smp,xftp}-server and the private network's
 * lines in /etc/tor/torrc.d/private-network.conf.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSession } from '../../controller/bus/session.ts';
import type { ExecResult } from '../../controller/enroll/ssh-session.ts';
import { listDevices } from '../../controller/state/devices.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { readFleetStatus } from '../../controller/status/view.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';
import { BIN, runBin, type CliRun } from '../support/cli.ts';
import { until } from '../support/processes.ts';
import { TorFleet } from '../support/tor-fleet.ts';
import { ensureImage, GUEST_FORWARD_ADDRESS, HostVm, mustSucceed, quote } from './host-vm.ts';

const REPO = new URL('../../', import.meta.url).pathname;
/** The guest's way into the private Tor network: its tor's bridge. */
export const BRIDGE_PORT = 9001;
/** Every file of the doubles (read from the directory: a new module of theirs is uploaded too). */
const DOUBLES = readdirSync(join(REPO, 'test/doubles')).filter((f) => f.endsWith('.mjs') || f === 'smp-server' || f === 'xftp-server');

export interface GuestFleetOptions {
  /** The guest's device id. */
  readonly device: string;
  /** Its operator (fleet.yaml). */
  readonly operator: string;
  /** Guest ports the test reaches from this machine. */
  readonly hostForwards?: readonly number[];
  /** Simulated devices enrolled beside the guest (real agent processes below temp roots, each with its own tor). */
  readonly simulated?: readonly string[];
}

export class GuestFleet {
  private constructor(
    readonly vm: HostVm,
    readonly tf: TorFleet,
    readonly device: string,
    /** What `device add --ssh --json` printed and its exit code. */
    readonly enrolled: CliRun,
    private readonly bundleDir: string,
  ) {}

  /**
   * Builds the image if needed and the agent bundle, boots the guest while the private network comes
   * up, prepares the guest, then enrolls it over SSH (and the simulated devices meanwhile). Whatever
   * started is stopped when a step fails.
   */
  static async start(o: GuestFleetOptions): Promise<GuestFleet> {
    ensureImage();
    const bundleDir = mkdtempSync(join(tmpdir(), 'onionfleet-host-agent-'));
    const bundle = join(bundleDir, 'onionfleet-agent.mjs');
    const build = spawnSync(process.execPath, [join(REPO, 'deploy/build-agent.mjs'), bundle], { encoding: 'utf8' });
    const [booted, network] = await Promise.allSettled([
      HostVm.boot({ hostForwards: o.hostForwards ?? [], guestForwards: [BRIDGE_PORT] }),
      TorFleet.start(),
    ]);
    const stopAll = async () => {
      if (booted.status === 'fulfilled') await booted.value.stop();
      if (network.status === 'fulfilled') await network.value.stop();
      rmSync(bundleDir, { recursive: true, force: true });
    };
    try {
      if (build.status !== 0) throw new Error(`build-agent failed: ${build.stderr}`);
      if (booted.status === 'rejected') throw booted.reason as Error;
      if (network.status === 'rejected') throw network.reason as Error;
      const vm = booted.value;
      const tf = network.value;
      const lines = tf.net.networkLines();
      vm.pointGuestForward(BRIDGE_PORT, `127.0.0.1:${firstAuthority(lines).orPort}`);
      await prepareGuest(vm, lines);
      const [enrolled] = await Promise.all([
        runBin(BIN.onionfleet, ['device', 'add', '--id', o.device, '--operator', o.operator, '--ssh', `root@127.0.0.1:${vm.sshPort}`, '--host-key', vm.hostKey,
          '--identity', vm.keyFile, '--agent-bundle', bundle, '--state', tf.h.state, '--json']),
        (o.simulated ?? []).length > 0 ? tf.addDevices(o.simulated ?? []) : Promise.resolve(),
      ]);
      return new GuestFleet(vm, tf, o.device, enrolled, bundleDir);
    } catch (err) {
      await stopAll();
      throw err;
    }
  }

  /** `onionfleet …` against this fleet's state. */
  cli(...args: string[]): Promise<CliRun> {
    return runBin(BIN.onionfleet, [...args, '--state', this.tf.h.state]);
  }

  /** The status the guest last reported, opened with the controller's keys (null: none yet). */
  async status(): Promise<DeviceStatus | null> {
    const paths = statePaths(this.tf.h.state);
    const session = await openSession(paths, null);
    try {
      const records = (await listDevices(paths)).filter((d) => d.device === this.device);
      const [view] = await readFleetStatus(session, records);
      return view?.status ?? null;
    } finally {
      await session.close();
    }
  }

  /** The controller's tor's SOCKS port (serve --tor): the way to the guest's SSH onion. */
  controllerSocks(): { host: string; port: number } {
    return { host: '127.0.0.1', port: (JSON.parse(readFileSync(join(this.tf.h.state, 'tor/runtime.json'), 'utf8')) as { socksPort: number }).socksPort };
  }

  /**
   * Runs `script` as root on the guest through its SSH onion (user admin, sudo), on a connection of
   * its own; retries the connection (the descriptor may not be published yet) until `deadlineMs`.
   */
  async overOnion(sshOnion: string, script: string, deadlineMs = 240_000): Promise<ExecResult> {
    const session = await until('an SSH session through the guest\'s onion', async () => {
      try {
        return await this.vm.connect({ user: 'admin', host: sshOnion, port: 22, socks: this.controllerSocks(), timeoutMs: 120_000 });
      } catch {
        return null;
      }
    }, deadlineMs);
    try {
      return await session.exec(`sudo -n sh -c ${quote(script)}`);
    } finally {
      session.close();
    }
  }

  /** {@link overOnion}, throwing with the output on a non-zero exit; resolves with stdout. */
  async mustOverOnion(sshOnion: string, script: string, deadlineMs?: number): Promise<string> {
    return mustSucceed(await this.overOnion(sshOnion, script, deadlineMs), script);
  }

  /** Stops the guest (exactly its qemu), the agents, serve and every tor. */
  async stop(): Promise<void> {
    await this.vm.stop();
    await this.tf.stop();
    rmSync(this.bundleDir, { recursive: true, force: true });
  }
}

/** The `DirAuthority` line of the network's first authority: its ORPort and relay fingerprint. */
function firstAuthority(lines: readonly string[]): { orPort: number; fingerprint: string } {
  const line = lines.find((l) => l.startsWith('DirAuthority auth1 '));
  const m = line === undefined ? null : /orport=(\d+) .* ([0-9A-F]{40})$/.exec(line);
  if (m?.[1] === undefined || m[2] === undefined) throw new Error(`no DirAuthority line for auth1 in ${lines.join('\n')}`);
  return { orPort: Number(m[1]), fingerprint: m[2] };
}

/** What the device's operator does before enrolling, plus the test's stand-ins (see the module comment). */
async function prepareGuest(vm: HostVm, networkLines: readonly string[]): Promise<void> {
  await vm.must([
    'set -e',
    'useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin simplex',
    'useradd --create-home --shell /bin/sh admin',
    'install -d -m 700 -o admin -g admin /home/admin/.ssh',
    'install -m 600 -o admin -g admin /root/.ssh/authorized_keys /home/admin/.ssh/authorized_keys',
    'printf "admin ALL=(ALL) NOPASSWD: ALL\\n" > /etc/sudoers.d/admin && chmod 0440 /etc/sudoers.d/admin',
    'mkdir -p /usr/local/lib/simplex-doubles',
  ].join('\n'));
  const session = await vm.connect();
  const text = (s: string) => new TextEncoder().encode(s);
  try {
    for (const f of DOUBLES) await session.upload(join(REPO, 'test/doubles', f), `/usr/local/lib/simplex-doubles/${f}`, 0o755);
    await session.upload(text('{ "type": "module" }\n'), '/usr/local/lib/simplex-doubles/package.json', 0o644);
    for (const name of ['smp-server', 'xftp-server']) {
      await session.upload(text(`#!/bin/sh\n# TEST DOUBLE of the SimpleX ${name} (onionfleet's test/doubles).\nexec /usr/local/bin/node /usr/local/lib/simplex-doubles/${name} "$@"\n`), `/usr/local/bin/${name}`, 0o755);
    }
    // The operator's own tor settings go in torrc.d (the agent replaces /etc/tor/torrc): here the
    // private network's lines, and its first authority as the bridge, through the forward.
    const { fingerprint } = firstAuthority(networkLines);
    const torrc = ['# The private Tor network of onionfleet\'s host-VM tests: the guest\'s only way out.', ...networkLines, 'UseBridges 1', `Bridge ${GUEST_FORWARD_ADDRESS}:${BRIDGE_PORT} ${fingerprint}`, ''].join('\n');
    mustSucceed(await session.exec('mkdir -p /etc/tor/torrc.d'), 'mkdir');
    await session.upload(text(torrc), '/etc/tor/torrc.d/private-network.conf', 0o644);
  } finally {
    session.close();
  }
}
