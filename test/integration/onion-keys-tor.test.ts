/**
 * Proof with the real Debian `tor`: a HiddenServiceDir holding only a Node-written
 * `hs_ed25519_secret_key` makes tor write the very `hostname` and `hs_ed25519_public_key` that
 * shared/crypto/onion.ts computes. Tor runs on loopback with `DisableNetwork 1`, no SOCKS or control
 * port: loading onion keys needs no network, so nothing leaves the machine.
 * Also the file-system contract of agent/onion/onion-dir.ts (modes, idempotence, repair, refusal).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { onionKeysFromSeed, randomOnionKeys } from '#shared/crypto/onion.ts';
import { ensureOnionDir, readOnionHostname } from '../../agent/onion/onion-dir.ts';
import { OperationFailedError } from '#shared/errors.ts';

const RFC8032_SEED = new Uint8Array(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'));
const DEADLINE_MS = 20_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'onionfleet-tor-'));
  await chmod(dir, 0o700);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Stops exactly this child: SIGTERM, then SIGKILL when it has not exited within the deadline. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` until it returns a value; fails at the deadline or when `child` exits first. */
async function until<T>(what: string, check: () => Promise<T | null>, child: ChildProcess, diagnostics: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`tor exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${await diagnostics()}`);
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms:\n${await diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function readOrNull(path: string): Promise<Buffer | null> {
  return readFile(path).catch(() => null);
}

/** Starts tor with one HiddenServiceDir per entry of `serviceDirs`; stopped after the test. */
async function startTor(serviceDirs: readonly string[]): Promise<{ child: ChildProcess; diagnostics: () => Promise<string> }> {
  const root = await tempDir();
  const data = join(root, 'data');
  await mkdir(data, { mode: 0o700 });
  const log = join(root, 'notice.log');
  const torrc = [
    `DataDirectory ${data}`,
    'SocksPort 0',
    'ControlPort 0',
    'DisableNetwork 1',
    `Log notice file ${log}`,
    ...serviceDirs.flatMap((dir) => [`HiddenServiceDir ${dir}`, 'HiddenServicePort 80 127.0.0.1:9']),
  ].join('\n');
  await writeFile(join(root, 'torrc'), `${torrc}\n`);
  await writeFile(join(root, 'defaults'), '');
  let output = '';
  const child = spawn('tor', ['-f', join(root, 'torrc'), '--defaults-torrc', join(root, 'defaults')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  cleanups.push(() => stop(child));
  const diagnostics = async () => `${output}\n--- notice.log ---\n${(await readOrNull(log))?.toString() ?? '(none)'}`;
  return { child, diagnostics };
}

/** A HiddenServiceDir (0700) that holds only the given secret key file. */
async function serviceDirWithOnly(secretKeyFile: Uint8Array): Promise<string> {
  const dir = join(await tempDir(), 'hs');
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, 'hs_ed25519_secret_key'), secretKeyFile, { mode: 0o600 });
  return dir;
}

describe('onion keys with the real tor', () => {
  beforeAll(() => {
    const probe = spawnSync('tor', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(`this test needs Debian's tor on PATH (${probe.error?.message ?? probe.stderr}); run: bash deploy/dev-deps.sh`);
    }
  });

  it('tor derives the hostname and public key Node computed, from the secret key alone', async () => {
    const rfc = onionKeysFromSeed(RFC8032_SEED);
    const random = randomOnionKeys();
    // A third service made by ensureOnionDir, stripped back to its secret key.
    const ensuredDir = join(await tempDir(), 'hs');
    const ensured = await ensureOnionDir(ensuredDir);
    const ensuredPublic = await readFile(join(ensuredDir, 'hs_ed25519_public_key'));
    await unlink(join(ensuredDir, 'hs_ed25519_public_key'));
    await unlink(join(ensuredDir, 'hostname'));

    const services = [
      { dir: await serviceDirWithOnly(rfc.secretKeyFile), hostname: rfc.hostname, publicKeyFile: rfc.publicKeyFile },
      { dir: await serviceDirWithOnly(random.secretKeyFile), hostname: random.hostname, publicKeyFile: random.publicKeyFile },
      { dir: ensuredDir, hostname: ensured.hostname, publicKeyFile: new Uint8Array(ensuredPublic) },
    ];
    for (const s of services) expect(await readdir(s.dir)).toEqual(['hs_ed25519_secret_key']);

    const { child, diagnostics } = await startTor(services.map((s) => s.dir));
    for (const s of services) {
      const written = await until(`${s.dir}/hostname and hs_ed25519_public_key`, async () => {
        const hostname = await readOrNull(join(s.dir, 'hostname'));
        const publicKey = await readOrNull(join(s.dir, 'hs_ed25519_public_key'));
        return hostname?.toString().endsWith('\n') === true && publicKey !== null ? { hostname: hostname.toString(), publicKey } : null;
      }, child, diagnostics);
      expect(written.hostname).toBe(`${s.hostname}\n`);
      expect(new Uint8Array(written.publicKey)).toEqual(s.publicKeyFile);
      expect(await readOnionHostname(s.dir)).toBe(s.hostname);
    }
    expect(services[0]?.hostname).toBe('25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion');
    // ensureOnionDir, run again on the directory tor now uses, agrees and changes nothing.
    const secretBefore = await readFile(join(ensuredDir, 'hs_ed25519_secret_key'));
    expect(await ensureOnionDir(ensuredDir)).toEqual({ hostname: ensured.hostname, created: false });
    expect(await readFile(join(ensuredDir, 'hs_ed25519_secret_key'))).toEqual(secretBefore);
  });
});

describe('ensureOnionDir', () => {
  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it('creates a 0700 directory with 0600 files once, then only reads it', async () => {
    const dir = join(await tempDir(), 'a', 'hs');
    const first = await ensureOnionDir(dir);
    expect(first.created).toBe(true);
    expect(await mode(dir)).toBe(0o700);
    expect((await readdir(dir)).sort()).toEqual(['hostname', 'hs_ed25519_public_key', 'hs_ed25519_secret_key']);
    for (const f of await readdir(dir)) expect(await mode(join(dir, f))).toBe(0o600);
    expect(await readOnionHostname(dir)).toBe(first.hostname);
    const secret = await readFile(join(dir, 'hs_ed25519_secret_key'));
    expect(await ensureOnionDir(dir)).toEqual({ hostname: first.hostname, created: false });
    expect(await readFile(join(dir, 'hs_ed25519_secret_key'))).toEqual(secret);
  });

  it('rewrites a missing or wrong hostname and public key from the secret key, and narrows the mode', async () => {
    const dir = join(await tempDir(), 'hs');
    const { hostname } = await ensureOnionDir(dir);
    const publicFile = await readFile(join(dir, 'hs_ed25519_public_key'));
    await unlink(join(dir, 'hs_ed25519_public_key'));
    await writeFile(join(dir, 'hostname'), `${randomOnionKeys().hostname}\n`);
    await chmod(dir, 0o755);
    expect(await ensureOnionDir(dir)).toEqual({ hostname, created: false });
    expect(await mode(dir)).toBe(0o700);
    expect(await readFile(join(dir, 'hs_ed25519_public_key'))).toEqual(publicFile);
    expect(await readOnionHostname(dir)).toBe(hostname);
  });

  it('refuses a secret key file that is not tor\'s, leaves it alone, and names no key bytes', async () => {
    const dir = join(await tempDir(), 'hs');
    await mkdir(dir, { mode: 0o700 });
    const bogus = Buffer.concat([Buffer.from('== ed25519v1-secret: type1 ==\0\0\0'), Buffer.alloc(64, 0x41)]);
    await writeFile(join(dir, 'hs_ed25519_secret_key'), bogus);
    const error = await ensureOnionDir(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect((error as OperationFailedError).code).toBe('onion-key-invalid');
    expect((error as Error).message).not.toMatch(/AAAA|4141/);
    expect(await readFile(join(dir, 'hs_ed25519_secret_key'))).toEqual(bogus);
    expect(await readdir(dir)).toEqual(['hs_ed25519_secret_key']);
  });

  it('chowns the directory and files to the given owner', async () => {
    const root = process.getuid?.() === 0;
    const owner = root ? { uid: 65534, gid: 65534 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const dir = join(await tempDir(), 'hs');
    await ensureOnionDir(dir, { owner });
    for (const path of [dir, ...(await readdir(dir)).map((f) => join(dir, f))]) {
      const s = await stat(path);
      expect({ uid: s.uid, gid: s.gid }).toEqual(owner);
    }
  });

  it('reads no hostname from a directory without one', async () => {
    expect(await readOnionHostname(join(await tempDir(), 'missing'))).toBeNull();
  });
});
