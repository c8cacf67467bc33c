/**
 * The SMP/XFTP test doubles against docs/reference/simplex-servers.md, run as real child processes
 * (the executables themselves, through their `#!/usr/bin/env node` line), and probeIdentity against
 * them. Each test owns temp directories and the pids it started; afterEach kills exactly those.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HELLO_BLOCK_SIZE, parseServerHello, probeIdentity } from '#shared/probes/tls-identity.ts';
import { caFingerprint, simplexAddress, type SimplexKind } from '#shared/crypto/fingerprint.ts';

const EXE: Record<SimplexKind, string> = {
  smp: fileURLToPath(new URL('../doubles/smp-server', import.meta.url)),
  xftp: fileURLToPath(new URL('../doubles/xftp-server', import.meta.url)),
};
const INI: Record<SimplexKind, string> = { smp: 'smp-server.ini', xftp: 'file-server.ini' };
const ONION = 'ajv3m4uu3oo5gzcqqgq3k7g4zxfk6icrqjgyhplorn6p5ufmwsftrlid.onion';
const CERT_FILES = ['ca.crt', 'ca.key', 'ca.srl', 'fingerprint', 'openssl_ca.conf', 'openssl_server.conf',
  'server.crt', 'server.csr', 'server.key'];

interface Dirs { readonly cfg: string; readonly log: string; readonly root: string }
interface Run { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }

const children = new Set<ChildProcessWithoutNullStreams>();
const temps: string[] = [];

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true })));
});

async function newDirs(): Promise<Dirs> {
  const root = await mkdtemp(join(tmpdir(), 'simplex-double-'));
  temps.push(root);
  return { root, cfg: join(root, 'cfg'), log: join(root, 'log') };
}

function envFor(kind: SimplexKind, d: Dirs): NodeJS.ProcessEnv {
  const prefix = kind === 'smp' ? 'SMP' : 'XFTP';
  return { ...process.env, [`${prefix}_SERVER_CFG_PATH`]: d.cfg, [`${prefix}_SERVER_LOG_PATH`]: d.log };
}

interface Launched { readonly child: ChildProcessWithoutNullStreams; readonly done: Promise<Run>; readonly stdout: () => string }

function launch(kind: SimplexKind, args: readonly string[], env: NodeJS.ProcessEnv): Launched {
  const child = spawn(EXE[kind], args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.stdin.end(); // nobody answers a prompt
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => { resolve({ code, signal, stdout, stderr }); });
  });
  return { child, done, stdout: () => stdout };
}

const run = (kind: SimplexKind, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> => launch(kind, args, env).done;

async function init(kind: SimplexKind, d: Dirs, extra: readonly string[] = []): Promise<Run> {
  const args = kind === 'smp'
    ? ['init', '-y', '-n', ONION, '--disable-web', ...extra]
    : ['init', '-n', ONION, '-p', join(d.root, 'files'), '-q', '20gb', ...extra];
  const r = await run(kind, args, envFor(kind, d));
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => { resolve(port); });
    });
  });
}

async function editIni(kind: SimplexKind, d: Dirs, edit: (text: string) => string): Promise<void> {
  const path = join(d.cfg, INI[kind]);
  await writeFile(path, edit(await readFile(path, 'utf8')));
}
const setPort = (kind: SimplexKind, d: Dirs, port: number): Promise<void> =>
  editIni(kind, d, (t) => t.replace(/^port: .*$/m, `port: ${port}`));

/** Starts a server; ready once "Server address" is printed and the port accepts TCP (deadline 10 s). */
async function startServer(kind: SimplexKind, d: Dirs, port: number): Promise<Launched> {
  const server = launch(kind, ['start'], envFor(kind, d));
  const { done, stdout } = server;
  const state: { exited: Run | null } = { exited: null };
  void done.then((r) => { state.exited = r; });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (state.exited !== null) throw new Error(`server exited early: ${JSON.stringify(state.exited)}`);
    if (Date.now() > deadline) throw new Error(`server not ready within 10 s; stdout: ${stdout()}`);
    if (/^Server address: /m.test(stdout()) && await accepts(port)) return server;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => { resolve(false); });
  });
}

async function exitWithin(done: Promise<Run>, ms: number): Promise<Run> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => { reject(new Error(`no exit within ${ms} ms`)); }, ms); });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('version', () => {
  it.each([['smp', 'SMP server v6.4.5.1 / '], ['xftp', 'SimpleX XFTP server v6.4.5.1 / ']] as const)('%s -v', async (kind, prefix) => {
    const r = await run(kind, ['-v'], process.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${prefix.replaceAll('.', '\\.')}[0-9a-f]{7}\\n$`));
  });
});

describe('smp-server init', () => {
  it('makes exactly the certificate files, the fingerprint and the ini, and prints the three lines', async () => {
    const d = await newDirs();
    const r = await init('smp', d, ['--password', 'secret']);
    expect((await readdir(d.cfg)).sort()).toEqual([...CERT_FILES, 'smp-server.ini'].sort());
    for (const key of ['ca.key', 'server.key']) expect((await stat(join(d.cfg, key))).mode & 0o777).toBe(0o600);
    const caPem = await readFile(join(d.cfg, 'ca.crt'), 'utf8');
    const fp = caFingerprint(caPem);
    expect(await readFile(join(d.cfg, 'fingerprint'), 'utf8')).toBe(`${fp}\n`);
    const ca = new X509Certificate(caPem);
    expect(ca.ca).toBe(true);
    expect(ca.subject.split('\n').sort()).toEqual(['CN=SMP server CA', 'O=SimpleX']);
    expect(ca.publicKey.asymmetricKeyType).toBe('ed25519');
    const server = new X509Certificate(await readFile(join(d.cfg, 'server.crt'), 'utf8'));
    expect(server.subject).toBe(`CN=${ONION}`);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(r.stdout).toContain(`SMP server v6.4.5.1 / `);
    expect(r.stdout).toContain(`\nFingerprint: ${fp}\n`);
    expect(r.stdout).toContain(`\nServer address: ${simplexAddress('smp', fp, 'secret', ONION)}\n`);
    const ini = await readFile(join(d.cfg, 'smp-server.ini'), 'utf8');
    for (const section of ['STORE_LOG', 'AUTH', 'TRANSPORT', 'PROXY', 'INACTIVE_CLIENTS', 'WEB']) expect(ini).toContain(`\n[${section}]\n`);
    expect(ini).toMatch(/^create_password: secret$/m);
    expect(ini).toMatch(new RegExp(`^host: ${ONION}$`, 'm'));
    expect(ini).toMatch(/^websockets: off$/m);
    for (const key of ['https', 'cert', 'key']) expect(ini).toMatch(new RegExp(`^# ${key}: `, 'm'));
    expect(await readdir(d.log)).toEqual([]);
  });

  it('writes a random 44-character password by default, none with --no-password', async () => {
    const d1 = await newDirs();
    await init('smp', d1);
    expect(await readFile(join(d1.cfg, 'smp-server.ini'), 'utf8')).toMatch(/^create_password: [A-Za-z0-9_-]{43}=$/m);
    const d2 = await newDirs();
    const r = await init('smp', d2, ['--no-password', '--socks-proxy', '-a', 'ED448']);
    const ini = await readFile(join(d2.cfg, 'smp-server.ini'), 'utf8');
    expect(ini).toMatch(/^# create_password: /m);
    expect(ini).toMatch(/^socks_proxy: 127\.0\.0\.1:9050$/m);
    const fp = caFingerprint(await readFile(join(d2.cfg, 'ca.crt'), 'utf8'));
    expect(r.stdout).toContain(`Server address: smp://${fp}@${ONION}\n`);
    expect(new X509Certificate(await readFile(join(d2.cfg, 'ca.crt'))).publicKey.asymmetricKeyType).toBe('ed448');
  });

  it('empties both directories first', async () => {
    const d = await newDirs();
    await mkdir(join(d.cfg, 'old'), { recursive: true });
    await mkdir(d.log, { recursive: true });
    await writeFile(join(d.cfg, 'old', 'stray'), 'x');
    await writeFile(join(d.log, 'stray.log'), 'x');
    await init('smp', d);
    expect(await readdir(d.log)).toEqual([]);
    expect(await readdir(d.cfg)).not.toContain('old');
  });

  it('requires -y: prompts, exits 1 and changes nothing', async () => {
    const d = await newDirs();
    await mkdir(d.cfg, { recursive: true });
    await writeFile(join(d.cfg, 'stray'), 'x');
    const r = await run('smp', ['init', '-n', ONION, '--password', 'secret'], envFor('smp', d));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('SMP server will be initialized (press Enter)');
    expect(await readdir(d.cfg)).toEqual(['stray']);
  });

  it('refuses to initialize twice', async () => {
    const d = await newDirs();
    await init('smp', d);
    const before = await readFile(join(d.cfg, 'fingerprint'), 'utf8');
    const r = await run('smp', ['init', '-y'], envFor('smp', d));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Error: server is already initialized');
    expect(await readFile(join(d.cfg, 'fingerprint'), 'utf8')).toBe(before);
  });

  it.each(['a b', 'p@ss', 'a:b', 'a/b', ''])('refuses the password %j and creates nothing', async (pw) => {
    const d = await newDirs();
    const r = await run('smp', ['init', '-y', '--password', pw], envFor('smp', d));
    expect(r.code).toBe(1);
    expect(existsSync(d.cfg)).toBe(false);
  });
});

describe('xftp-server init', () => {
  it('needs -p and -q', async () => {
    const d = await newDirs();
    for (const args of [['init'], ['init', '-p', join(d.root, 'files')], ['init', '-q', '20gb']]) {
      const r = await run('xftp', args, envFor('xftp', d));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Missing: .*\n\nUsage: xftp-server init/);
    }
    expect((await run('xftp', ['init', '-p', d.root, '-q', '20GB'], envFor('xftp', d))).code).toBe(1);
    expect(existsSync(d.cfg)).toBe(false);
  });

  it('writes file-server.ini, the same certificate files (ED448 by default) and refuses re-init', async () => {
    const d = await newDirs();
    const r = await init('xftp', d);
    expect((await readdir(d.cfg)).sort()).toEqual([...CERT_FILES, 'file-server.ini'].sort());
    const caPem = await readFile(join(d.cfg, 'ca.crt'), 'utf8');
    const fp = caFingerprint(caPem);
    expect(new X509Certificate(caPem).publicKey.asymmetricKeyType).toBe('ed448');
    expect(r.stdout).toContain(`Server address: xftp://${fp}@${ONION}\n`);
    const ini = await readFile(join(d.cfg, 'file-server.ini'), 'utf8');
    expect(ini).toContain(`[FILES]\npath: ${join(d.root, 'files')}\nstorage_quota: 20gb\n`);
    expect((await run('xftp', ['init', '-p', d.root, '-q', '1gb'], envFor('xftp', d))).stdout).toContain('Error: server is already initialized');
  });
});

describe('start and probeIdentity', () => {
  it('SMP: identity, hello 6..17 with our session id, also over a supplied socket; no secrets in the log', async () => {
    const d = await newDirs();
    await init('smp', d, ['--password', 'secret']);
    await rm(join(d.cfg, 'ca.key')); // start needs no CA key
    const port = await freePort();
    await setPort('smp', d, port);
    const server = await startServer('smp', d, port);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    expect(server.stdout()).toContain(`Fingerprint: ${fp}\nServer address: smp://${fp}:secret@${ONION}:${port}\n`);
    const viaHost = await probeIdentity({ kind: 'smp', fingerprint: fp, host: '127.0.0.1', port, timeoutMs: 5000 });
    expect(viaHost).toMatchObject({ reachable: true, identityOk: true, chainSigned: true, presentedFingerprint: fp, helloOk: true, versions: { min: 6, max: 17 }, error: null });
    expect(viaHost.latencyMs).toBeGreaterThanOrEqual(0);
    const viaSocket = await probeIdentity({ kind: 'smp', fingerprint: fp, connect: () => net.connect(port, '127.0.0.1'), timeoutMs: 5000 });
    expect(viaSocket).toMatchObject({ identityOk: true, helloOk: true });
    const log = await readFile(join(d.log, 'smp-server.log'), 'utf8');
    expect(log).toContain('alpn=smp/1 sni=none');
    expect(log).not.toContain('secret');
  });

  it('XFTP: identity and hello over HTTP/2', async () => {
    const d = await newDirs();
    await init('xftp', d);
    const port = await freePort();
    await setPort('xftp', d, port);
    await startServer('xftp', d, port);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    const probe = await probeIdentity({ kind: 'xftp', fingerprint: fp, host: '127.0.0.1', port, timeoutMs: 5000 });
    expect(probe).toMatchObject({ reachable: true, identityOk: true, chainSigned: true, helloOk: true, versions: { min: 6, max: 17 }, error: null });
  });

  it('a wrong expected fingerprint is identityOk false; SIGINT stops with exit 0; then unreachable', async () => {
    const d = await newDirs();
    await init('smp', d);
    const port = await freePort();
    // v6.5 writes `key = value`; both separators must read.
    await editIni('smp', d, (t) => t.replace(/^port: .*$/m, `port = ${port}`).replace(/^websockets: off$/m, 'websockets = off'));
    const server = await startServer('smp', d, port);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    const other = `${'A'.repeat(43)}=`;
    const probe = await probeIdentity({ kind: 'smp', fingerprint: other, host: '127.0.0.1', port, timeoutMs: 5000 });
    expect(probe).toMatchObject({ reachable: true, identityOk: false, chainSigned: true, presentedFingerprint: fp });
    server.child.kill('SIGINT');
    const stopped = await exitWithin(server.done, 5000);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('Server stopped');
    const after = await probeIdentity({ kind: 'smp', fingerprint: fp, host: '127.0.0.1', port, timeoutMs: 2000 });
    expect(after.reachable).toBe(false);
    expect(after.error).toMatch(/^connect: /);
  });

  it('SIGTERM ends the process too', async () => {
    const d = await newDirs();
    await init('xftp', d);
    const port = await freePort();
    await setPort('xftp', d, port);
    const server = await startServer('xftp', d, port);
    server.child.kill('SIGTERM');
    expect((await exitWithin(server.done, 5000)).signal).toBe('SIGTERM');
  });

  it.skipIf(existsSync('/etc/opt/simplex/smp-server.ini'))('an empty path variable means the default directory', async () => {
    const r = await run('smp', ['start'], { ...process.env, SMP_SERVER_CFG_PATH: '', SMP_SERVER_LOG_PATH: '' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Error: server is not initialized (/etc/opt/simplex/smp-server.ini does not exist)');
  });
});

describe('start refuses a broken configuration', () => {
  let template: Dirs;
  beforeAll(async () => {
    template = await newDirs();
    temps.pop(); // kept for the whole block, removed in afterAll
    await init('smp', template);
  });
  afterAll(async () => { await rm(template.root, { recursive: true, force: true }); });

  it.each<[string, (d: Dirs) => Promise<void>, RegExp]>([
    ['a tampered fingerprint file', (d) => writeFile(join(d.cfg, 'fingerprint'), `${'A'.repeat(43)}=\n`), /Stored fingerprint is invalid/],
    ['a missing server.crt', (d) => rm(join(d.cfg, 'server.crt')), /server\.crt: openFile: does not exist/],
    ['a missing fingerprint', (d) => rm(join(d.cfg, 'fingerprint')), /fingerprint: openFile: does not exist/],
    ['no ini', (d) => rm(join(d.cfg, 'smp-server.ini')), /Error: server is not initialized/],
    ['[WEB] cert files that init never made', (d) => editIni('smp', d, (t) => t.replace(/^# (https|cert|key): /gm, '$1: ')), /web\.crt: openFile: does not exist/],
    ['socks_proxy: localhost:9050', (d) => editIni('smp', d, (t) => t.replace('# socks_proxy: localhost:9050', 'socks_proxy: localhost:9050')), /socks_proxy/],
    ['an on/off value that is neither', (d) => editIni('smp', d, (t) => t.replace('log_tls_errors: off', 'log_tls_errors: no')), /invalid INI setting log_tls_errors/],
    ['no websockets key', (d) => editIni('smp', d, (t) => t.replace('websockets: off', '')), /no key websockets in section TRANSPORT/],
  ])('%s', async (_name, breakIt, message) => {
    const d = await newDirs();
    await cp(template.root, d.root, { recursive: true });
    await setPort('smp', d, await freePort());
    await breakIt(d);
    const r = await run('smp', ['start'], envFor('smp', d));
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(message);
  });
});

describe('probeIdentity against servers that break the contract', () => {
  /** An in-process TLS server with an initialized directory's keys, acting as told per connection. */
  async function fakeServer(d: Dirs, onConnect: (socket: tls.TLSSocket) => void): Promise<{ port: number; close: () => void }> {
    const read = (name: string): Promise<string> => readFile(join(d.cfg, name), 'utf8');
    const server = tls.createServer({ key: await read('server.key'), cert: (await read('server.crt')) + (await read('ca.crt')), ALPNProtocols: ['smp/1'] });
    const sockets = new Set<tls.TLSSocket>();
    server.on('secureConnection', (s) => { sockets.add(s); s.on('error', () => undefined); onConnect(s); });
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve); });
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () => { for (const s of sockets) s.destroy(); server.close(); },
    };
  }

  it('a hello whose session id is not our TLS session fails helloOk (replayed or relayed)', async () => {
    const d = await newDirs();
    await init('smp', d);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    const fake = await fakeServer(d, (s) => s.write(block(6, 17, randomBytes(32))));
    try {
      const probe = await probeIdentity({ kind: 'smp', fingerprint: fp, host: '127.0.0.1', port: fake.port, timeoutMs: 5000 });
      expect(probe).toMatchObject({ reachable: true, identityOk: true, helloOk: false, versions: { min: 6, max: 17 }, latencyMs: null });
      expect(probe.error).toMatch(/session id/);
    } finally {
      fake.close();
    }
  });

  it('a server that never sends the hello times out without throwing', async () => {
    const d = await newDirs();
    await init('smp', d);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    const fake = await fakeServer(d, () => undefined);
    try {
      const started = Date.now();
      const probe = await probeIdentity({ kind: 'smp', fingerprint: fp, host: '127.0.0.1', port: fake.port, timeoutMs: 300 });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(probe).toMatchObject({ reachable: true, identityOk: true, helloOk: false });
      expect(probe.error).toMatch(/^server hello: timed out/);
    } finally {
      fake.close();
    }
  });

  it('a server.crt not signed by ca.crt fails identity even with the right CA', async () => {
    const d = await newDirs();
    const other = await newDirs();
    await init('smp', d);
    await init('smp', other);
    for (const f of ['server.crt', 'server.key']) await cp(join(other.cfg, f), join(d.cfg, f));
    const port = await freePort();
    await setPort('smp', d, port);
    await startServer('smp', d, port);
    const fp = caFingerprint(await readFile(join(d.cfg, 'ca.crt'), 'utf8'));
    const probe = await probeIdentity({ kind: 'smp', fingerprint: fp, host: '127.0.0.1', port, timeoutMs: 5000 });
    expect(probe).toMatchObject({ reachable: true, identityOk: false, chainSigned: false });
  });
});

/** A hello block as the contract describes it. */
function block(min: number, max: number, sessionId: Buffer, rest: Buffer = Buffer.alloc(0)): Buffer {
  const payload = Buffer.concat([Buffer.from([min >> 8, min & 0xff, max >> 8, max & 0xff, sessionId.length]), sessionId, rest]);
  const out = Buffer.alloc(HELLO_BLOCK_SIZE, '#');
  out.writeUInt16BE(payload.length, 0);
  payload.copy(out, 2);
  return out;
}

describe('parseServerHello', () => {
  const sid = randomBytes(32);
  it('reads versions and session id, ignoring the rest of the payload', () => {
    expect(parseServerHello(block(6, 17, sid, Buffer.from([1, 2, 3])))).toEqual({ min: 6, max: 17, sessionId: sid });
  });
  it.each<[string, Buffer]>([
    ['a short block', block(6, 17, sid).subarray(0, 100)],
    ['min > max', block(17, 6, sid)],
    ['bad padding', (() => { const b = block(6, 17, sid); b[HELLO_BLOCK_SIZE - 1] = 0; return b; })()],
    ['a session id past the payload', (() => { const b = block(6, 17, sid); b[6] = 200; return b; })()],
    ['a length past the block', (() => { const b = block(6, 17, sid); b.writeUInt16BE(HELLO_BLOCK_SIZE, 0); return b; })()],
  ])('returns null for %s', (_name, b) => {
    expect(parseServerHello(b)).toBeNull();
  });
});
