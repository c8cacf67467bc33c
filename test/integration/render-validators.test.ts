/**
 * The rendered files pass the real validators of the programs that read them: tor, systemd, nft and
 * sshd (Debian packages installed by deploy/dev-deps.sh; a missing one fails the test, it is never
 * skipped). Each case renders a device, writes the files below a temp root exactly as `render --root`
 * would, and runs the validator on them. A broken input per validator proves the check has teeth.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS, renderDevice, type RenderedFile } from '../../agent/render/index.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState, hostsFor } from '../builders/desired.ts';

const BIN = {
  tor: { path: '/usr/sbin/tor', pkg: 'tor' },
  systemdAnalyze: { path: '/usr/bin/systemd-analyze', pkg: 'systemd' },
  nft: { path: '/usr/sbin/nft', pkg: 'nftables' },
  sshd: { path: '/usr/sbin/sshd', pkg: 'openssh-server' },
  sshKeygen: { path: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
} as const;

interface Run {
  code: number;
  output: string;
}

/** Runs a validator with an argument array; resolves with its exit code and combined output. */
function run(bin: keyof typeof BIN, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(BIN[bin].path, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(new Error(`${BIN[bin].path} could not run (${error.code ?? error.message}); install it with deploy/dev-deps.sh`, { cause: error }));
        return;
      }
      resolve({ code: error === null ? 0 : Number(error.code), output: `${stdout}${stderr}` });
    });
  });
}

const CASES: Record<string, DesiredState> = {
  standard: desiredState({ tier: 'standard' }),
  'extreme-ssh': desiredState({ tier: 'extreme', clientAuth: ['alice', 'bob'] }),
  mixed: desiredState({ groups: [{ id: 'family', tier: 'standard', smp: 1, xftp: 0 }, { id: 'ngo', tier: 'high', smp: 2, xftp: 1 }], clientAuth: ['carol'] }),
  empty: desiredState({ instances: [], overTor: false }),
};

let root: string;

beforeAll(async () => {
  const missing: string[] = [];
  for (const { path, pkg } of Object.values(BIN)) {
    await access(path, constants.X_OK).catch(() => missing.push(`${path} (Debian package ${pkg})`));
  }
  if (missing.length > 0) throw new Error(`validators missing: ${missing.join(', ')}; run deploy/dev-deps.sh`);
  root = await mkdtemp(join(tmpdir(), 'onionfleet-render-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes every rendered file below a fresh directory; returns it and the files. */
async function renderInto(name: string, desired: DesiredState): Promise<{ dir: string; files: RenderedFile[] }> {
  const dir = join(root, name);
  const files = renderDevice(desired, hostsFor(desired));
  for (const f of files) {
    await mkdir(dirname(join(dir, f.path)), { recursive: true });
    await writeFile(join(dir, f.path), f.content, { mode: f.mode });
  }
  return { dir, files };
}

/** Points the absolute /etc/tor and /var/lib/tor paths of a torrc into `dir`. */
function relocate(text: string, dir: string): string {
  return text.replaceAll('/etc/tor/', `${dir}/etc/tor/`).replaceAll('/var/lib/tor/', `${dir}/var/lib/tor/`);
}

async function verifyTor(dir: string, desired: DesiredState): Promise<Run> {
  const torrc = join(dir, PATHS.torrc);
  const fragment = join(dir, PATHS.torrcFragment);
  const data = join(dir, 'tor-data');
  await mkdir(data, { recursive: true, mode: 0o700 });
  // The agent creates tor's ClientOnionAuthDir before it reloads tor (tor refuses a missing one).
  await mkdir(join(dir, PATHS.torClientAuthDir), { recursive: true, mode: 0o700 });
  const onions = [...desired.instances.map((i) => i.id), ...(desired.ssh.overTor ? ['ssh'] : [])];
  for (const name of onions) {
    const hsDir = join(dir, PATHS.onionDir(name));
    await mkdir(hsDir, { recursive: true });
    await chmod(hsDir, 0o700);
  }
  await writeFile(torrc, `${relocate(await readFile(torrc, 'utf8'), dir)}DataDirectory ${data}\n`);
  await writeFile(fragment, relocate(await readFile(fragment, 'utf8'), dir));
  const defaults = join(dir, 'torrc-defaults');
  await writeFile(defaults, '');
  return run('tor', ['--verify-config', '--defaults-torrc', defaults, '-f', torrc]);
}

/** The only finding systemd-analyze may report: the server binary does not exist on this machine. */
const MISSING_BINARY = /^onionfleet-(?:smp|xftp)@i\.service: Command \/usr\/local\/bin\/(?:smp|xftp)-server is not executable: No such file or directory$/;

function unexpectedLines(output: string): string[] {
  return output.split('\n').filter((l) => l.trim() !== '' && !MISSING_BINARY.test(l));
}

async function composeSshd(dir: string, dropIn: string, after: readonly string[] = []): Promise<string> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  await rm(hostKey, { force: true });
  await rm(`${hostKey}.pub`, { force: true });
  const keygen = await run('sshKeygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  expect(keygen.code, keygen.output).toBe(0);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd -t insists on its privilege-separation directory
  const config = join(dir, 'sshd_config');
  await writeFile(config, [`HostKey ${hostKey}`, 'PidFile none', `Include ${dropIn}`, ...after, ''].join('\n'));
  return config;
}

describe.each(Object.entries(CASES))('rendered files of "%s" pass the real validators', (name, desired) => {
  it('tor --verify-config accepts torrc and the onion fragment', async () => {
    const { dir } = await renderInto(`${name}-tor`, desired);
    const result = await verifyTor(dir, desired);
    expect(result.output).toContain('Configuration was valid');
    expect(result.code).toBe(0);
  });

  it('systemd-analyze verify finds nothing but the absent server binaries', async () => {
    const { dir, files } = await renderInto(`${name}-systemd`, desired);
    const units = files.filter((f) => f.kind === 'systemd').map((f) => join(dir, f.path));
    expect(units).toHaveLength(3);
    const result = await run('systemdAnalyze', ['verify', ...units]);
    expect(unexpectedLines(result.output)).toEqual([]);
  });

  it('nft -c -f accepts the firewall rules', async () => {
    const { dir } = await renderInto(`${name}-nft`, desired);
    const result = await run('nft', ['-c', '-f', join(dir, PATHS.firewallRules)]);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it(desired.ssh.overTor ? 'sshd -t accepts a full config that includes the drop-in, and the drop-in wins' : 'has no sshd drop-in to check (no SSH over Tor)', async () => {
    const { dir, files } = await renderInto(`${name}-sshd`, desired);
    if (!desired.ssh.overTor) {
      expect(files.filter((f) => f.kind === 'sshd')).toEqual([]);
      return;
    }
    // What Debian's sshd_config would say after its Include line: sshd keeps the first value it reads.
    const config = await composeSshd(dir, join(dir, PATHS.sshdDropIn), ['X11Forwarding yes', 'PasswordAuthentication yes', 'PermitRootLogin yes']);
    const check = await run('sshd', ['-t', '-f', config]);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    const effective = await run('sshd', ['-T', '-f', config]);
    expect(effective.code, effective.output).toBe(0);
    const lines = effective.output.split('\n');
    for (const line of ['listenaddress 127.0.0.1:22', 'port 22', 'passwordauthentication no', 'kbdinteractiveauthentication no', 'permitrootlogin no',
      'authenticationmethods publickey', 'x11forwarding no', 'allowtcpforwarding no', 'allowagentforwarding no', 'permittunnel no', 'maxauthtries 3']) {
      expect(lines).toContain(line);
    }
  });
});

describe('each validator rejects a broken input (the checks above have teeth)', () => {
  it('tor refuses an unknown option', async () => {
    const { dir } = await renderInto('broken-tor', CASES.standard!);
    await writeFile(join(dir, PATHS.torrcFragment), 'HiddenServiceBogus 1\n');
    const result = await verifyTor(dir, desiredState({ instances: [], overTor: false }));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("Unknown option 'HiddenServiceBogus'");
  });

  it('systemd-analyze reports a misspelt key', async () => {
    const { dir } = await renderInto('broken-systemd', CASES.standard!);
    const unit = join(dir, PATHS.unitTemplate('smp'));
    await writeFile(unit, (await readFile(unit, 'utf8')).replace('LockPersonality=yes', 'LockPersonalty=yes'));
    const result = await run('systemdAnalyze', ['verify', unit]);
    expect(unexpectedLines(result.output).join('\n')).toContain("Unknown key 'LockPersonalty'");
  });

  it('nft refuses a syntax error', async () => {
    const { dir } = await renderInto('broken-nft', CASES.standard!);
    const rules = join(dir, PATHS.firewallRules);
    await writeFile(rules, (await readFile(rules, 'utf8')).replace('tcp dport', 'tcp dprt'));
    expect((await run('nft', ['-c', '-f', rules])).code).not.toBe(0);
  });

  it('sshd refuses an unknown keyword', async () => {
    const dir = join(root, 'broken-sshd');
    await mkdir(dir, { recursive: true });
    const dropIn = join(dir, 'drop-in.conf');
    await writeFile(dropIn, 'PasswordAuthentcation no\n');
    const result = await run('sshd', ['-t', '-f', await composeSshd(dir, dropIn)]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('PasswordAuthentcation');
  });
});
