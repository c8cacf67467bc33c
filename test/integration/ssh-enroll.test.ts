/**
 * `onionfleet device add --ssh` against a real sshd (Debian's openssh-server) on loopback, started
 * as a child with a temp host key and an authorized_keys file; the "device" is this machine, below a
 * sandbox root (`--remote-root`). The agent is the real single-file build (built once into a temp
 * dir), and the controller's NATS the real `onionfleet serve`: a full enrollment ends with the agent
 * connected to NATS as its own user. The SOCKS path goes through Debian's microsocks bound to
 * 127.0.0.2 for its outgoing connections, so sshd's log shows whether a session came through it.
 * Failures are injected with agent bundles that fail one step (init, or run), never by mocking SSH.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLIER_UNITS } from '../../controller/enroll/ssh-enroll.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { agentUnitSettings } from '../support/agent-unit.ts';
import { BIN, onionfleet, runBin, type CliRun } from '../support/cli.ts';
import { alive, freePort, stopChild, stopPid, until } from '../support/processes.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const INSTALLER = join(REPO, 'deploy/install-agent.sh');
const UNIT = join(REPO, 'deploy/onionfleet-agent.service');

let work: string;
let state: string;
let bundle: string;
let clientKey: string;
let hostKey: string; // SHA256:… as ssh-keygen prints it
let sshPort: number;
let sshd: ChildProcess | undefined;
let sshdLog = '';
let serve: ChildProcess | undefined;
let serveLog = '';
let natsUrl: string;
const agents: number[] = [];

function need(bin: string, args: readonly string[]): void {
  const r = spawnSync(bin, args, { stdio: 'ignore' });
  if (r.error !== undefined) throw new Error(`${bin} is missing (${r.error.message}); run deploy/dev-deps.sh`);
}

function keygen(path: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'onionfleet-test', '-f', path]);
}

/** Starts `cmd` and resolves once its output matches `ready`; output keeps accumulating in `sink`. */
async function startChild(cmd: string, args: readonly string[], ready: RegExp, sink: (text: string) => string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  const take = (b: Buffer) => { seen = sink(b.toString()); };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  await until(`${cmd} to start`, () => {
    if (child.exitCode !== null) throw new Error(`${cmd} exited (${child.exitCode}): ${seen}`);
    return ready.test(seen) ? true : null;
  }, 30_000);
  return child;
}

beforeAll(async () => {
  for (const [bin, args] of [['/usr/sbin/sshd', ['-V']], ['ssh-keygen', ['-?']], ['microsocks', ['-h']], ['systemd-analyze', ['--version']], ['script', ['--version']]] as const) need(bin, args);
  work = await mkdtemp(join(tmpdir(), 'onionfleet-ssh-'));
  state = join(work, 'state');
  expect((await onionfleet('init', '--state', state)).code).toBe(0);
  bundle = join(work, 'onionfleet-agent.mjs');
  execFileSync(process.execPath, [join(REPO, 'deploy/build-agent.mjs'), bundle]);

  keygen(join(work, 'host_key'));
  hostKey = execFileSync('ssh-keygen', ['-lf', join(work, 'host_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  clientKey = join(work, 'client_key');
  keygen(clientKey);
  await copyFile(`${clientKey}.pub`, join(work, 'authorized_keys'));
  sshPort = await freePort();
  await writeFile(join(work, 'sshd_config'), [
    'ListenAddress 127.0.0.1', `Port ${sshPort}`, `HostKey ${join(work, 'host_key')}`, `AuthorizedKeysFile ${join(work, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
    `PidFile ${join(work, 'sshd.pid')}`, 'StrictModes no', 'Subsystem sftp internal-sftp', 'LogLevel INFO', '',
  ].join('\n'));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  sshd = await startChild('/usr/sbin/sshd', ['-D', '-e', '-f', join(work, 'sshd_config')], /Server listening on 127\.0\.0\.1 port/, (t) => (sshdLog += t));

  const natsPort = await freePort();
  natsUrl = `nats://127.0.0.1:${natsPort}`;
  serve = await startChild(process.execPath, [BIN.onionfleet, 'serve', '--state', state, '--port', String(natsPort)], /listening on nats:\/\/127\.0\.0\.1:\d+/, (t) => (serveLog += t));
}, 120_000);

afterAll(async () => {
  for (const pid of agents) await stopPid(pid);
  await stopChild(serve);
  await stopChild(sshd);
  await rm(work, { recursive: true, force: true });
});

/** `onionfleet device add --ssh` with the test's state, key, bundle and NATS; `extra` adds or overrides flags. */
function addOverSsh(id: string, root: string, extra: readonly string[] = []): Promise<CliRun> {
  return onionfleet('device', 'add', '--id', id, '--operator', 'alice', '--ssh', `root@127.0.0.1:${sshPort}`, '--state', state,
    '--identity', clientKey, '--agent-bundle', bundle, '--nats-url', natsUrl, '--remote-root', root, ...extra);
}

async function registered(): Promise<string[]> {
  const list = await onionfleet('device', 'list', '--state', state, '--json');
  return (JSON.parse(list.stdout) as { device: string }[]).map((d) => d.device);
}

const accepted = (from = '127.0.0.1') => sshdLog.split('\n').filter((l) => l.includes(`Accepted publickey for root from ${from} `)).length;
const mode = (path: string) => statSync(path).mode & 0o777;
/** What the access sync writes: the NATS users and the onion's client list. */
async function accessFiles(): Promise<string> {
  const paths = statePaths(state);
  const clients = existsSync(join(paths.natsOnionDir, 'authorized_clients')) ? readdirSync(join(paths.natsOnionDir, 'authorized_clients')).sort() : [];
  return `${await readFile(paths.natsConfig, 'utf8').catch(() => '')}\n${clients.join(',')}`;
}

describe('device add --ssh against a real sshd', () => {
  it('enrolls: installs below the remote root, makes the keys there, registers them, starts the agent, which connects to NATS', async () => {
    const root = join(work, 'r1', 'root');
    const run = await addOverSsh('pi-1', root, ['--host-key', hostKey, '--json']);
    expect(run.code, run.stderr).toBe(0);
    for (let i = 1; i <= 8; i++) expect(run.stderr).toContain(`[${i}/8] `);
    expect(run.stderr).toContain('[6/8] running onionfleet-agent init');
    const out = JSON.parse(run.stdout) as { added: string; operator: string; hostKey: string; fingerprint: string; remoteRoot: string; agent: { manager: string; pid: number } };
    expect(out).toMatchObject({ added: 'pi-1', operator: 'alice', hostKey, remoteRoot: root, agent: { manager: 'process' } });
    agents.push(out.agent.pid);

    const list = JSON.parse((await onionfleet('device', 'list', '--state', state, '--json')).stdout) as { device: string; fingerprint: string }[];
    expect(list).toContainEqual(expect.objectContaining({ device: 'pi-1', fingerprint: out.fingerprint }));

    expect((await readFile(join(root, 'usr/local/lib/onionfleet/onionfleet-agent.mjs'))).equals(await readFile(bundle))).toBe(true);
    expect(mode(join(root, 'usr/local/bin/onionfleet-agent'))).toBe(0o755);
    expect(await readFile(join(root, 'etc/systemd/system/onionfleet-agent.service'), 'utf8')).toBe(await readFile(UNIT, 'utf8'));
    for (const name of APPLIER_UNITS) expect(await readFile(join(root, 'etc/systemd/system', name), 'utf8')).toBe(await readFile(join(dirname(UNIT), name), 'utf8'));
    expect(mode(join(root, 'etc/onionfleet'))).toBe(0o750);
    for (const dir of ['var/lib/onionfleet', 'var/log/onionfleet']) expect(statSync(join(root, dir)).isDirectory()).toBe(true);
    expect(mode(join(root, 'etc/onionfleet/keys/signing.key'))).toBe(0o600);

    const config = join(root, 'etc/onionfleet/agent.json');
    expect(mode(config)).toBe(0o600);
    const controller = JSON.parse(await readFile(join(state, 'controller.json'), 'utf8')) as { signingKey: string; ageRecipient: string };
    expect(JSON.parse(await readFile(config, 'utf8'))).toEqual({
      root, device: 'pi-1', controller: { signingKey: controller.signingKey, ageRecipient: controller.ageRecipient },
      nats: { url: natsUrl, socks: '127.0.0.1:9050' }, tor: { socks: '127.0.0.1:9050' },
    });

    expect(Number(await readFile(join(root, 'var/lib/onionfleet/agent.pid'), 'utf8'))).toBe(out.agent.pid);
    expect(alive(out.agent.pid)).toBe(true);
    // The agent reaches NATS with the nkey user the enrollment registered (and the running server reloaded).
    const connected = (line: string): boolean => {
      try {
        const event = JSON.parse(line) as { device?: string; msg?: string; time?: string; level?: number };
        return event.device === 'pi-1' && event.msg === "connected to the controller's NATS" && typeof event.time === 'string' && event.level === 30;
      } catch {
        return false;
      }
    };
    await until('the agent to connect to NATS', async () => ((await readFile(join(root, 'var/log/onionfleet/agent.log'), 'utf8')).split('\n').some(connected) ? true : null), 30_000);
    await stopPid(out.agent.pid);
  }, 90_000);

  it('refuses a host key other than the pinned one (exit 1, expected vs got), before authenticating, changing nothing', async () => {
    const root = join(work, 'r2', 'root');
    const before = accepted();
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const run = await addOverSsh('pi-2', root, ['--host-key', wrong]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`expected ${wrong}`);
    expect(run.stderr).toContain(`got ${hostKey}`);
    expect(run.stderr).not.toContain('[2/8]');
    expect(accepted()).toBe(before);
    expect(existsSync(join(work, 'r2'))).toBe(false);
    expect(await registered()).not.toContain('pi-2');
  });

  it.each([
    ['init', 6, 'process.stderr.write("init: simulated failure\\n"); process.exit(1);'],
    ['run', 8, `import { spawnSync } from 'node:child_process';
if (process.argv[2] === 'run') { process.stderr.write('run: simulated failure\\n'); process.exit(1); }
process.exit(spawnSync(process.execPath, [BUNDLE, ...process.argv.slice(2)], { stdio: 'inherit' }).status ?? 1);`],
  ])('rolls the device and the registry back when the agent\'s %s fails (step %i)', async (verb, step, source) => {
    const id = `pi-${verb}`;
    const fake = join(work, `fails-${verb}.mjs`);
    await writeFile(fake, source.replace('BUNDLE', JSON.stringify(bundle)));
    const access = await accessFiles();
    const run = await addOverSsh(id, join(work, `r-${verb}`, 'root'), ['--host-key', hostKey, '--agent-bundle', fake]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`[${step}/8] failed`);
    expect(run.stderr).toContain(`${verb}: simulated failure`);
    if (step === 8) expect(run.stderr).toContain(`undo [7/8] unregistering ${id}`);
    expect(run.stderr).toContain('undo [4/8] uninstalling');
    expect(run.stderr).toContain('rolled back');
    expect(run.stderr).not.toContain('could not undo');
    // Everything the installer made is gone, up to the first directory that existed before.
    expect(existsSync(join(work, `r-${verb}`))).toBe(false);
    expect(await registered()).not.toContain(id);
    expect(await accessFiles()).toBe(access);
  }, 60_000);

  it('without --host-key and without a terminal: exit 2 with the fingerprint and the flag to pin it, nothing changed', async () => {
    const before = accepted();
    const run = await runBin(BIN.onionfleet, ['device', 'add', '--id', 'pi-4', '--operator', 'alice', '--ssh', `root@127.0.0.1:${sshPort}`, '--state', state,
      '--identity', clientKey, '--agent-bundle', bundle, '--nats-url', natsUrl, '--remote-root', join(work, 'r4', 'root')]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(`presents the unpinned host key ${hostKey} (ssh-ed25519)`);
    expect(run.stderr).toContain(`re-run with --host-key ${hostKey}`);
    expect(accepted()).toBe(before);
    expect(existsSync(join(work, 'r4'))).toBe(false);
  }, 30_000);

  it('on a terminal, shows the fingerprint and asks; anything but y refuses (exit 2)', () => {
    const command = [process.execPath, BIN.onionfleet, 'device', 'add', '--id', 'pi-6', '--operator', 'alice', '--ssh', `root@127.0.0.1:${sshPort}`, '--state', state,
      '--identity', clientKey, '--agent-bundle', bundle, '--nats-url', natsUrl, '--remote-root', join(work, 'r6', 'root')].map((w) => `'${w}'`).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { input: 'n\n', encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stdout).toBe(2);
    expect(run.stdout).toContain(`ssh-ed25519 ${hostKey}`);
    expect(run.stdout).toContain('Trust it? [y/N]');
    expect(run.stdout).toContain('was not accepted');
    expect(existsSync(join(work, 'r6'))).toBe(false);
  }, 30_000);

  it('maps an unreachable host to exit 4 and a refused key to exit 1', async () => {
    const closed = await onionfleet('device', 'add', '--id', 'pi-7', '--operator', 'alice', '--ssh', `root@127.0.0.1:${await freePort()}`, '--state', state,
      '--identity', clientKey, '--agent-bundle', bundle, '--host-key', hostKey, '--nats-url', natsUrl);
    expect(closed.code, closed.stderr).toBe(4);
    expect(closed.stderr).toContain('ECONNREFUSED');
    const stranger = join(work, 'stranger_key');
    keygen(stranger);
    const refused = await addOverSsh('pi-7', join(work, 'r7', 'root'), ['--host-key', hostKey, '--identity', stranger]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain('refused the SSH key for user root');
    expect(existsSync(join(work, 'r7'))).toBe(false);
  });

  it('checks the flags and local files before connecting (exit 2)', async () => {
    const base = ['device', 'add', '--id', 'pi-8', '--state', state];
    const both = await onionfleet(...base, '--record', join(work, 'nope.json'), '--ssh', 'root@127.0.0.1');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give exactly one');
    const noOperator = await onionfleet(...base, '--ssh', 'root@127.0.0.1', '--agent-bundle', bundle);
    expect(noOperator.stderr).toContain('--operator: required with --ssh');
    const badTarget = await onionfleet(...base, '--operator', 'alice', '--ssh', 'pi.local', '--host-key', 'MD5:xx', '--agent-bundle', bundle);
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toContain('--ssh: expected USER@HOST[:PORT]');
    expect(badTarget.stderr).toContain('--host-key: expected SHA256:');
    const noBundle = await onionfleet(...base, '--operator', 'alice', '--ssh', 'root@127.0.0.1', '--agent-bundle', join(work, 'missing.mjs'));
    expect(noBundle.code).toBe(2);
    expect(noBundle.stderr).toContain('hint: build it with `npm run build:agent`');
    const locked = join(work, 'locked_key');
    keygen(locked, 'a passphrase');
    const encrypted = await onionfleet(...base, '--operator', 'alice', '--ssh', 'root@127.0.0.1', '--agent-bundle', bundle, '--identity', locked, '--nats-url', natsUrl);
    expect(encrypted.code).toBe(2);
    expect(encrypted.stderr).toContain('the SSH private key is encrypted');
    expect(await registered()).not.toContain('pi-8');
  });
});

describe('device add --ssh through SOCKS (microsocks)', () => {
  let proxy: ChildProcess | undefined;
  let proxyPort: number;

  beforeAll(async () => {
    proxyPort = await freePort();
    proxy = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(proxyPort), '-b', '127.0.0.2'], { stdio: 'ignore' });
    const child = proxy;
    await until('microsocks to listen', () => {
      if (child.exitCode !== null) throw new Error('microsocks exited');
      return new Promise<true | null>((resolve) => {
        const s = connect(proxyPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => { resolve(null); });
      });
    });
  });

  afterAll(async () => {
    await stopChild(proxy);
  });

  it('enrolls through the proxy: sshd sees the session come from the proxy\'s address', async () => {
    const before = accepted('127.0.0.2');
    const run = await addOverSsh('pi-5', join(work, 'r5', 'root'), ['--host-key', hostKey, '--socks', `127.0.0.1:${proxyPort}`, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`through the SOCKS proxy 127.0.0.1:${proxyPort}`);
    const pid = (JSON.parse(run.stdout) as { agent: { pid: number } }).agent.pid;
    agents.push(pid);
    expect(accepted('127.0.0.2')).toBeGreaterThan(before);
    expect(await registered()).toContain('pi-5');
    await stopPid(pid);
  }, 60_000);

  it('hands an .onion host to the proxy by name, exits 4 when it cannot reach it, and never prints the address', async () => {
    const onion = `${'a'.repeat(56)}.onion`;
    const run = await onionfleet('device', 'add', '--id', 'pi-9', '--operator', 'alice', '--ssh', `root@${onion}`, '--socks', `127.0.0.1:${proxyPort}`, '--state', state,
      '--identity', clientKey, '--agent-bundle', bundle, '--nats-url', natsUrl);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`root@<onion address>:22: not reachable through the SOCKS proxy 127.0.0.1:${proxyPort}`);
    expect(`${run.stdout}${run.stderr}`).not.toContain(onion.slice(0, 20));
  });
});

describe('deploy/install-agent.sh and the unit', () => {
  const sh = (...args: string[]) => spawnSync('sh', [INSTALLER, ...args], { encoding: 'utf8' });

  it('is idempotent, and uninstall removes exactly what install made', async () => {
    const root = join(work, 'installer', 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'hostname'), 'pi\n');
    const first = sh('install', '--bundle', bundle, '--root', root);
    expect(first.status, first.stderr).toBe(0);
    const manifest = await readFile(join(root, 'usr/local/lib/onionfleet/install.manifest'), 'utf8');
    expect(manifest).not.toContain(`${root}/etc\n`); // it existed before
    const again = sh('install', '--bundle', bundle, '--root', root);
    expect(again.status, again.stderr).toBe(0);
    expect(await readFile(join(root, 'usr/local/lib/onionfleet/install.manifest'), 'utf8')).toBe(manifest);
    const wrapper = spawnSync(join(root, 'usr/local/bin/onionfleet-agent'), ['--version'], { encoding: 'utf8' });
    expect(wrapper.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    // The unit's memory settings reach node through the wrapper (NODE_OPTIONS would refuse --no-opt).
    const { flags, env } = agentUnitSettings();
    expect(flags).toEqual(expect.arrayContaining(['--max-old-space-size=32', '--no-opt']));
    const report = join(work, 'installer', 'exec-argv.cjs');
    await writeFile(report, 'process.stderr.write(JSON.stringify(process.execArgv));\n');
    const tuned = spawnSync(join(root, 'usr/local/bin/onionfleet-agent'), ['--version'], {
      encoding: 'utf8',
      env: { ...process.env, ...env, ONIONFLEET_NODE_FLAGS: [...flags, `--require=${report}`].join(' ') },
    });
    expect(tuned.status, tuned.stderr).toBe(0);
    expect(JSON.parse(tuned.stderr.slice(0, tuned.stderr.indexOf(']') + 1))).toEqual([...flags, `--require=${report}`]);
    await writeFile(join(root, 'etc/onionfleet/agent.json'), '{}');
    expect(sh('uninstall', '--root', root).status).toBe(0);
    expect(readdirSync(root)).toEqual(['etc']);
    expect(readdirSync(join(root, 'etc'))).toEqual(['hostname']);
    const twice = sh('uninstall', '--root', root);
    expect(twice.status).toBe(0);
    expect(twice.stdout).toContain('nothing to uninstall');
  });

  it('refuses bad usage (exit 2) and a missing bundle (exit 1) without creating anything', () => {
    const root = join(work, 'installer-bad', 'root');
    expect(sh('install', '--root', root).status).toBe(2);
    expect(sh('install', '--bundle', join(work, 'missing.mjs'), '--root', root).status).toBe(1);
    expect(sh('install', '--bundle', bundle, '--root', 'relative').status).toBe(2);
    expect(existsSync(join(work, 'installer-bad'))).toBe(false);
  });

  it('systemd-analyze verify finds nothing in the units (agent, applier socket and service, boot hold) but the agent absent from this machine; a misspelt key is reported', async () => {
    const dir = join(work, 'unit');
    await mkdir(dir, { recursive: true });
    const unit = join(dir, 'onionfleet-agent.service');
    await copyFile(UNIT, unit);
    for (const name of APPLIER_UNITS) await copyFile(join(dirname(UNIT), name), join(dir, name));
    const verify = (...paths: string[]) => {
      const r = spawnSync('systemd-analyze', ['verify', ...paths], { encoding: 'utf8' });
      return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/^onionfleet-(agent|apply@i|hold)\.service: Command \/usr\/local\/bin\/onionfleet-agent is not executable: No such file or directory$/.test(l));
    };
    expect(verify(unit, ...APPLIER_UNITS.map((name) => join(dir, name)))).toEqual([]);
    await writeFile(unit, (await readFile(UNIT, 'utf8')).replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'));
    expect(verify(unit).join('\n')).toContain("Unknown key 'NoNewPrivilege'");
  });
});
