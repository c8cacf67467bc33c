/**
 * The host-VM harness: a real Debian 12 host (its own kernel, systemd as PID 1, AppArmor, nftables,
 * sshd, tor) under qemu, for `npm run test:host` and `npm run bench -- host-apply`.
 *
 * - The image is built once by make-image.sh (cached in {@link VM_DIR}, ~2 min when missing or
 *   stale); every boot runs a fresh copy-on-write overlay of it in a temp dir, so each suite starts
 *   from a clean host and the image is never written.
 * - qemu's software emulation (TCG): this machine's KVM is a nested PVM backend on which a stock
 *   Debian kernel crawls. ≤ 2 vCPUs, one guest at a time.
 * - Networking is qemu's user mode with `restrict=on`: the guest reaches nothing outside qemu. The
 *   host reaches the guest only through `hostfwd` (sshd's port 22, and the guest ports a test names);
 *   the guest reaches the host only through `guestfwd` addresses (10.0.2.100:PORT), each of which runs
 *   guestfwd.mjs per connection towards a target the test sets (and may set after the boot).
 * - qemu is this process's child; {@link HostVm.stop} stops exactly that pid (and an exit handler
 *   does, should the test process end without calling it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshSession, type ExecResult } from '../../controller/enroll/ssh-session.ts';
import type { HostPort } from '../../controller/enroll/ssh-target.ts';
import { freePort, until } from '../support/processes.ts';

/** The image cache: survives between runs on one machine; a clean CI machine builds it afresh. */
export const VM_DIR = process.env.ONIONFLEET_VM_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'onionfleet-host-vm');
const HERE = new URL('.', import.meta.url).pathname;
/** Where the guest reaches the host's forwards (qemu user networking, `guestfwd`). */
export const GUEST_FORWARD_ADDRESS = '10.0.2.100';

/**
 * Builds the image unless the cached one is up to date (make-image.sh; needs root and
 * deploy/dev-deps.sh's debootstrap). Returns what make-image.sh printed. Throws with its output on failure.
 */
export function ensureImage(): string {
  const r = spawnSync('bash', [join(HERE, 'make-image.sh')], { encoding: 'utf8', env: { ...process.env, ONIONFLEET_VM_DIR: VM_DIR } });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`test/host-vm/make-image.sh failed (exit ${r.status ?? r.signal}):\n${out}`);
  return out.trim();
}

export interface BootOptions {
  /** Guest TCP ports the host reaches on 127.0.0.1 (besides sshd's 22): guest port → a free host port. */
  readonly hostForwards?: readonly number[];
  /** Guest-to-host forwards: the guest connects to 10.0.2.100:PORT; point them with {@link HostVm.pointGuestForward}. */
  readonly guestForwards?: readonly number[];
  /** Virtual CPUs (default 2: at most the machine's two cores). */
  readonly cpus?: number;
  /** MiB (default 1024). */
  readonly memoryMb?: number;
  /** Deadline for sshd to answer (default 300 s: 20–45 s on an idle machine, more on a busy one). */
  readonly bootTimeoutMs?: number;
}

/** One running guest; see the module comment. */
export class HostVm {
  /** The image's sshd key (`SHA256:…`), as make-image.sh recorded it: every connection is pinned to it. */
  readonly hostKey: string;
  readonly privateKey: Buffer;
  /** The path of root's (and the test's) private key. */
  readonly keyFile: string;
  #exited = false;
  readonly #onExit: () => void;

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
    readonly sshPort: number,
    /** Guest port → host port on 127.0.0.1. */
    readonly forwards: ReadonlyMap<number, number>,
  ) {
    this.keyFile = join(VM_DIR, 'id_ed25519');
    this.privateKey = readFileSync(this.keyFile);
    this.hostKey = readFileSync(join(VM_DIR, 'host-key'), 'utf8').trim();
    child.once('exit', () => { this.#exited = true; });
    this.#onExit = () => { if (!this.#exited && this.pid > 0) process.kill(this.pid, 'SIGKILL'); };
    process.once('exit', this.#onExit);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return !this.#exited;
  }

  /** Boots a fresh overlay and resolves once sshd answers as root (with the pinned key). */
  static async boot(o: BootOptions = {}): Promise<HostVm> {
    const dir = mkdtempSync(join(tmpdir(), 'onionfleet-host-vm-'));
    const overlay = join(dir, 'overlay.qcow2');
    const img = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', join(VM_DIR, 'base.img'), overlay], { encoding: 'utf8' });
    if (img.status !== 0) throw new Error(`qemu-img create failed: ${img.stderr}`);
    const sshPort = await freePort();
    const forwards = new Map<number, number>();
    for (const port of o.hostForwards ?? []) forwards.set(port, await freePort());
    const net = [
      'user,id=n0,restrict=on',
      `hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
      ...[...forwards].map(([guest, host]) => `hostfwd=tcp:127.0.0.1:${host}-:${guest}`),
      ...(o.guestForwards ?? []).map((port) => `guestfwd=tcp:${GUEST_FORWARD_ADDRESS}:${port}-cmd:${process.execPath} ${join(HERE, 'guestfwd.mjs')} ${join(dir, `forward-${port}`)}`),
    ].join(',');
    const child = spawn('qemu-system-x86_64', [
      '-name', 'onionfleet-host', '-nodefaults', '-machine', 'q35',
      '-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max', '-smp', String(o.cpus ?? 2), '-m', String(o.memoryMb ?? 1024),
      '-kernel', join(VM_DIR, 'vmlinuz'), '-initrd', join(VM_DIR, 'initrd.img'), '-append', 'root=/dev/vda rw console=ttyS0',
      '-drive', `file=${overlay},if=virtio,format=qcow2,cache=unsafe`,
      '-netdev', net, '-device', 'virtio-net-pci,netdev=n0', '-device', 'virtio-rng-pci',
      '-display', 'none', '-monitor', 'none', '-serial', `file:${join(dir, 'console.log')}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const vm = new HostVm(dir, child, sshPort, forwards);
    try {
      await vm.waitForSsh(o.bootTimeoutMs ?? 300_000, () => (stderr === '' ? '' : `; qemu: ${stderr.trim()}`));
    } catch (err) {
      await vm.stop();
      throw err;
    }
    return vm;
  }

  /** Resolves once root can log in over the forwarded sshd port. */
  async waitForSsh(deadlineMs: number, why: () => string = () => ''): Promise<void> {
    await until('the guest\'s sshd to answer', async () => {
      if (!this.running) throw new Error(`qemu exited during boot${why()}; console: ${this.consoleTail()}`);
      try {
        (await this.connect()).close();
        return true;
      } catch {
        return null;
      }
    }, deadlineMs);
  }

  /** Points the guest's 10.0.2.100:`guestPort` at `target` (`HOST:PORT` on this machine) for the next connections. */
  pointGuestForward(guestPort: number, target: string): void {
    writeFileSync(join(this.dir, `forward-${guestPort}`), `${target}\n`);
  }

  /** The host port that reaches the guest's `guestPort`. */
  forward(guestPort: number): number {
    const port = this.forwards.get(guestPort);
    if (port === undefined) throw new Error(`guest port ${guestPort} is not forwarded`);
    return port;
  }

  /** An SSH session over the forwarded port (`socks` null), or through a SOCKS proxy to `host` (an onion). */
  connect(o: { user?: string; host?: string; port?: number; socks?: HostPort | null; timeoutMs?: number } = {}): Promise<SshSession> {
    return SshSession.connect({
      endpoint: { user: o.user ?? 'root', host: o.host ?? '127.0.0.1', port: o.port ?? this.sshPort },
      socks: o.socks ?? null, privateKey: this.privateKey, hostKey: this.hostKey, confirmHostKey: null, timeoutMs: o.timeoutMs ?? 30_000,
    });
  }

  /** Runs `script` with `sh -c` as root over the forwarded port, on a connection of its own. */
  async run(script: string): Promise<ExecResult> {
    const session = await this.connect();
    try {
      return await session.exec(`sh -c ${quote(script)}`);
    } finally {
      session.close();
    }
  }

  /** {@link run}, throwing with the output when the script exits non-zero; resolves with stdout. */
  async must(script: string): Promise<string> {
    return mustSucceed(await this.run(script), script);
  }

  /** The last lines of the serial console (for error messages). */
  consoleTail(lines = 30): string {
    try {
      return readFileSync(join(this.dir, 'console.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no console log)';
    }
  }

  /**
   * Stops exactly this qemu (SIGTERM, then SIGKILL), and removes the overlay. With
   * ONIONFLEET_VM_CONSOLE=FILE set, the serial console (kernel and journal) is kept there. Never throws.
   */
  async stop(): Promise<void> {
    process.removeListener('exit', this.#onExit);
    if (this.running && this.pid > 0) {
      process.kill(this.pid, 'SIGTERM');
      await until('qemu to exit', () => (this.running ? null : true), 15_000).catch(() => {
        if (this.running) process.kill(this.pid, 'SIGKILL');
      });
      await until('qemu to exit after SIGKILL', () => (this.running ? null : true), 15_000).catch(() => undefined);
    }
    const keep = process.env.ONIONFLEET_VM_CONSOLE;
    if (keep !== undefined && keep !== '') {
      try {
        copyFileSync(join(this.dir, 'console.log'), keep);
      } catch {
        // no console yet
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One word, quoted for sh. */
export function quote(word: string): string {
  return `'${word.replaceAll("'", String.raw`'\''`)}'`;
}

/** stdout of a successful run; throws with the script's head and its output otherwise. */
export function mustSucceed(r: ExecResult, script: string): string {
  if (r.code !== 0) throw new Error(`guest: \`${script.split('\n')[0]?.slice(0, 120) ?? ''}\` exited ${r.code}:\n${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r.stdout;
}
