/**
 * A controller and several simulated devices on this machine, each a real process: `onionfleet
 * serve` (the Debian nats-server), and one `onionfleet-agent run` per device under its own temp root,
 * with the built-in supervisor and the SimpleX doubles. Used by the control-plane tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { BIN, onionfleet, runBin, type CliRun } from './cli.ts';
import { claimPortBlock, BAND, type PortBlock } from './port-bands.ts';
import { freePort, stopChild, stopSupervised, until } from './processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;

export interface SimulatedDevice {
  readonly id: string;
  readonly root: string;
  readonly config: string;
  agent: ChildProcess | null;
  log: string;
}

export class FleetHarness {
  readonly devices = new Map<string, SimulatedDevice>();
  serve: ChildProcess | null = null;
  serveLog = '';
  private port: number | null = null;
  /** The port offset of the `i`th enrolled device. */
  private readonly portOffset: (i: number) => number;
  private readonly block: PortBlock | null;

  /** `--passphrase-file F` for the controller's commands when the state has a passphrase. */
  readonly passphraseFlags: readonly string[];

  private constructor(readonly dir: string, readonly state: string, passphraseFile: string | null, firstPortOffset: number | null) {
    this.passphraseFlags = passphraseFile === null ? [] : ['--passphrase-file', passphraseFile];
    // Simulated devices share this host: each gets a band of local ports of its own, in a block no
    // other test process holds (or from the given first offset: a benchmark running alone).
    const block = firstPortOffset === null ? claimPortBlock() : null;
    this.block = block;
    this.portOffset = block === null ? (i) => (firstPortOffset ?? 0) + i * BAND : (i) => block.offset(i);
  }

  /** A fresh controller state (with `passphrase`: protected by it, and every controller command given it). */
  static async create(options: { passphrase?: string; firstPortOffset?: number } = {}): Promise<FleetHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'onionfleet-fleet-'));
    let passphraseFile: string | null = null;
    if (options.passphrase !== undefined) {
      passphraseFile = join(dir, 'passphrase');
      writeFileSync(passphraseFile, `${options.passphrase}\n`, { mode: 0o600 });
    }
    const h = new FleetHarness(dir, join(dir, 'state'), passphraseFile, options.firstPortOffset ?? null);
    const init = await onionfleet('init', '--state', h.state, ...h.passphraseFlags);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    return h;
  }

  /**
   * A fresh controller with `serve` running, every device enrolled with its agent started, and a
   * fleet.yaml of `groups` applied and converged (`apply --wait`). Throws when the apply fails.
   */
  static async applied(devices: readonly { id: string; operator: string }[], groups: Parameters<typeof fleetYaml>[1], timeoutSeconds = 120): Promise<{ h: FleetHarness; fleet: string }> {
    const h = await FleetHarness.create();
    await h.startServe();
    for (const d of devices) {
      await h.enroll(d.id);
      h.startAgent(d.id);
    }
    const fleet = h.writeFleet(fleetYaml(devices, groups));
    const applied = await h.apply(fleet, '--wait', '--timeout', String(timeoutSeconds));
    if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}${applied.stdout}`);
    return { h, fleet };
  }

  /**
   * Where one instance runs, read from the devices' own desired-state copies: the device holding it
   * (not one of `except`; '' when none) and its local port there.
   */
  instanceView(devices: readonly { id: string }[], instance: string): { holder: (except?: readonly string[]) => string; portOn: (device: string) => number; desiredOn: (device: string) => DesiredState } {
    const desiredOn = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(this.devices.get(id)?.root ?? '', 'var/lib/onionfleet/desired.json'), 'utf8')));
    return {
      desiredOn,
      holder: (except = []) => devices.map((d) => d.id).find((id) => !except.includes(id) && desiredOn(id).instances.some((i) => i.id === instance)) ?? '',
      portOn: (device) => desiredOn(device).instances.find((i) => i.id === instance)?.localPort ?? 0,
    };
  }

  /**
   * Starts `onionfleet serve` (on the same port every time, so agents find it again); resolves when
   * this serve — not an earlier one, whose lines are still in `serveLog` — says it listens.
   */
  async startServe(...extra: string[]): Promise<void> {
    this.port ??= await freePort();
    this.serve = spawn(process.execPath, [BIN.onionfleet, 'serve', '--state', this.state, '--port', String(this.port), ...this.passphraseFlags, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    const child = this.serve;
    let own = '';
    const file = createWriteStream(join(this.dir, 'serve.log'), { flags: 'a' });
    const collect = (b: Buffer): void => {
      own += b.toString();
      this.serveLog += b.toString();
      file.write(b);
    };
    child.once('close', () => file.end());
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    await until('onionfleet serve to listen', () => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${own}`);
      return /listening on nats:\/\/127\.0\.0\.1:\d+/.test(own) ? true : null;
    }, 30_000);
  }

  async stopServe(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopChild(this.serve ?? undefined, signal);
    this.serve = null;
  }

  /** The nats-server's pid (from serve's runtime file), for fault injection. */
  natsPid(): number {
    return (JSON.parse(readFileSync(join(this.state, 'nats/runtime.json'), 'utf8')) as { pid: number }).pid;
  }

  /** The NATS url while serve runs; a dead address otherwise (offline fleets). */
  natsUrl(): string {
    try {
      return (JSON.parse(readFileSync(join(this.state, 'nats/runtime.json'), 'utf8')) as { url: string }).url;
    } catch {
      return 'nats://127.0.0.1:1';
    }
  }

  /** `onionfleet-agent init` under a new root, then `onionfleet device add`. */
  async enroll(id: string, extra: Record<string, unknown> = {}): Promise<SimulatedDevice> {
    const root = join(this.dir, 'devices', id, 'root');
    const config = join(this.dir, 'devices', id, 'agent.json');
    const controller = JSON.parse(readFileSync(join(this.state, 'controller.json'), 'utf8')) as { signingKey: string; ageRecipient: string };
    const portOffset = this.portOffset(this.devices.size);
    const body = {
      root, device: id, services: 'supervisor', system: 'sandbox', portOffset, heartbeatSeconds: 2,
      binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') },
      controller: { signingKey: controller.signingKey, ageRecipient: controller.ageRecipient },
      nats: { url: this.natsUrl() },
      ...extra,
    };
    mkdirSync(join(this.dir, 'devices', id), { recursive: true });
    writeFileSync(config, JSON.stringify(body));
    const init = await runBin(BIN.agent, ['init', '--device', id, '--config', config]);
    if (init.code !== 0) throw new Error(`agent init failed: ${init.stderr}`);
    const recordPath = join(this.dir, 'devices', id, 'record.json');
    writeFileSync(recordPath, init.stdout);
    const add = await onionfleet('device', 'add', '--id', id, '--record', recordPath, '--state', this.state);
    if (add.code !== 0) throw new Error(`device add failed: ${add.stderr}`);
    const device: SimulatedDevice = { id, root, config, agent: null, log: '' };
    this.devices.set(id, device);
    return device;
  }

  startAgent(id: string): void {
    const d = this.devices.get(id);
    if (d === undefined) throw new Error(`no device ${id}`);
    const child = spawn(process.execPath, [BIN.agent, 'run', '--config', d.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Kept on disk too (beside the device's root), so a failed run can be read after the test.
    const file = createWriteStream(join(this.dir, 'devices', id, 'agent.log'), { flags: 'a' });
    const collect = (b: Buffer): void => {
      d.log += b.toString();
      file.write(b);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('close', () => file.end());
    d.agent = child;
  }

  async stopAgent(id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const d = this.devices.get(id);
    await stopChild(d?.agent ?? undefined, signal);
    if (d !== undefined) d.agent = null;
  }

  writeFleet(yaml: string): string {
    const path = join(this.dir, 'fleet.yaml');
    writeFileSync(path, yaml);
    return path;
  }

  apply(fleet: string, ...flags: string[]): Promise<CliRun> {
    return runBin(BIN.onionfleet, ['apply', '-f', fleet, '--state', this.state, ...this.passphraseFlags, ...flags]);
  }

  status(): Promise<CliRun> {
    return runBin(BIN.onionfleet, ['status', '--state', this.state, '--json', ...this.passphraseFlags]);
  }

  /** Everything the run wrote to logs and terminals: for tests that grep for secrets. */
  async allLogs(): Promise<string> {
    let all = this.serveLog + (await readFile(join(this.state, 'nats/nats.log'), 'utf8').catch(() => ''));
    for (const d of this.devices.values()) {
      all += d.log;
      const logDir = join(d.root, 'var/log/onionfleet');
      for (const f of await readdir(logDir).catch(() => [])) all += await readFile(join(logDir, f), 'utf8');
    }
    return all;
  }

  async stop(): Promise<void> {
    for (const id of this.devices.keys()) await this.stopAgent(id);
    await this.stopServe();
    for (const d of this.devices.values()) await stopSupervised(d.root);
    this.block?.release();
  }
}

/** A two-operator fleet.yaml over the given devices: one standard group per device list. */
export function fleetYaml(devices: readonly { id: string; operator: string; state?: string }[], groups: readonly { id: string; tier?: string; smp: number; xftp: number; continuity?: string }[]): string {
  const operators = [...new Set(devices.map((d) => d.operator))];
  return [
    'version: 1',
    'fleet: test-fleet',
    'operators:',
    ...operators.map((o) => `  - id: ${o}`),
    'devices:',
    ...devices.map((d) => `  - { id: ${d.id}, operator: ${d.operator}, location: ${d.id}-site, jurisdiction: DE${d.state === undefined ? '' : `, state: ${d.state}`} }`),
    'groups:',
    ...groups.map((g) => `  - { id: ${g.id}, tier: ${g.tier ?? 'standard'}, smp: ${g.smp}, xftp: ${g.xftp}, members: [m]${g.continuity === undefined ? '' : `, continuity: ${g.continuity}`} }`),
    'members:',
    '  - { id: m, passphrase: true }',
    '',
  ].join('\n');
}
