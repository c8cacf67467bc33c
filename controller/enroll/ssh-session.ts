/**
 * One SSH connection to a device (ssh2): directly, or through a SOCKS5 proxy that is handed the host
 * name (Tor, for .onion hosts). The host key is pinned before anything else happens: a key other than
 * the pinned one ends the connection before authentication. Authentication is by private key only.
 */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { EXIT, InvalidInputError, OnionfleetError, OperationFailedError, type ErrorOptions } from '#shared/errors.ts';
import { dialSocks, TunnelError } from '#shared/tor/socks-tunnel.ts';
import { describeEndpoint, hostKeyFingerprint, hostKeyType, type HostPort, type SshEndpoint } from './ssh-target.ts';

/** The device cannot be reached (refused, timed out, the SOCKS proxy failed). Exit 4. */
export class SshUnreachableError extends OnionfleetError {
  readonly code = 'ssh-unreachable';
  readonly exitCode = EXIT.unreachable;
}

/** The host presented another key than the pinned one; nothing was sent to it. Exit 1. */
export class HostKeyMismatchError extends OnionfleetError {
  readonly code = 'host-key-mismatch';
  readonly exitCode = EXIT.failed;
  constructor(where: string, readonly expected: string, readonly actual: string) {
    super(`${where}: host key mismatch: expected ${expected} (--host-key), got ${actual}; refusing to connect`, {
      hint: 'if the device was reinstalled, read its key there (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); otherwise someone may be intercepting the connection',
    });
  }
}

/** The device refused the private key. Exit 1. */
export class SshAuthError extends OnionfleetError {
  readonly code = 'ssh-auth-refused';
  readonly exitCode = EXIT.failed;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { hint: "add the key's .pub to the user's ~/.ssh/authorized_keys on the device (ssh-copy-id), or pass --identity", ...options });
  }
}

/** Asked on first use (no pinned key): true trusts the key for this connection. */
export type ConfirmHostKey = (where: string, fingerprint: string, keyType: string) => Promise<boolean>;

export interface SshConnectOptions {
  readonly endpoint: SshEndpoint;
  /** Connect through this SOCKS5 proxy (the host is handed to it by name), or directly when null. */
  readonly socks: HostPort | null;
  /** An unencrypted private key ({@link loadPrivateKey}). */
  readonly privateKey: Buffer;
  /** `SHA256:…`: the only host key accepted; null: ask `confirmHostKey`. */
  readonly hostKey: string | null;
  /** null (not a terminal): an unpinned key is refused with exit 2, naming its fingerprint. */
  readonly confirmHostKey: ConfirmHostKey | null;
  /** Deadline for reaching the host and authenticating, not counting the time a person takes to confirm. Default 30 s directly, 120 s through SOCKS. */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

type Verdict = { kind: 'mismatch'; actual: string } | { kind: 'unpinned'; actual: string; type: string } | { kind: 'declined'; actual: string };

/**
 * Reads an OpenSSH (or PEM) private key. InvalidInputError (exit 2) when the file is missing, not a
 * key, or encrypted: ssh2 cannot prompt for a passphrase here.
 */
export async function loadPrivateKey(path: string): Promise<Buffer> {
  const problem = (message: string, options: ErrorOptions = {}) => new InvalidInputError([{ source: path, message }], options);
  const data = await readFile(path).catch((err: unknown) => {
    throw problem((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (the SSH private key; --identity FILE)' : 'cannot read the SSH private key', { cause: err });
  });
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/encrypted|passphrase/i.test(parsed.message)) {
      throw problem('the SSH private key is encrypted (has a passphrase), which this command cannot use', { hint: 'use a key without a passphrase for enrollment (ssh-keygen -t ed25519 -N "" -f KEY), or remove it with ssh-keygen -p' });
    }
    throw problem(`not an SSH private key (${parsed.message})`);
  }
  return data;
}

/** A connected, authenticated session; see the module comment. */
export class SshSession {
  #sftp: Promise<SFTPWrapper> | null = null;

  private constructor(private readonly client: ssh2.Client, readonly where: string, readonly hostKey: string) {}

  /**
   * Connects, checks the host key, authenticates. Throws {@link SshUnreachableError} (exit 4),
   * {@link HostKeyMismatchError} (exit 1), {@link SshAuthError} (exit 1), InvalidInputError (exit 2)
   * for an unpinned key that is not confirmed, OperationFailedError for other SSH failures.
   */
  static async connect(options: SshConnectOptions): Promise<SshSession> {
    const where = describeEndpoint(options.endpoint);
    const timeoutMs = options.timeoutMs ?? (options.socks === null ? 30_000 : 120_000);
    const started = Date.now();
    const sock = options.socks === null ? undefined : await viaSocks(options.socks, options.endpoint, where, timeoutMs);
    const client = new ssh2.Client();
    return new Promise<SshSession>((resolve, reject) => {
      let verdict: Verdict | null = null;
      let accepted: string | null = null;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number) => { timer = setTimeout(() => { fail(new SshUnreachableError(`${where}: no SSH session within ${timeoutMs} ms`)); }, ms); };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.end();
        sock?.destroy();
        reject(err);
      };
      const verify = (key: Buffer, done: (ok: boolean) => void): void => {
        const actual = hostKeyFingerprint(key);
        if (options.hostKey !== null) {
          if (actual !== options.hostKey) verdict = { kind: 'mismatch', actual };
          else accepted = actual;
          done(verdict === null);
        } else if (options.confirmHostKey === null) {
          verdict = { kind: 'unpinned', actual, type: hostKeyType(key) };
          done(false);
        } else {
          // A person is reading the fingerprint: the deadline waits for them.
          clearTimeout(timer);
          const left = timeoutMs - (Date.now() - started);
          options.confirmHostKey(where, actual, hostKeyType(key)).then((ok) => {
            if (ok) accepted = actual;
            else verdict = { kind: 'declined', actual };
            arm(Math.max(left, 5_000));
            done(ok);
          }, fail);
        }
      };
      client.on('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(new SshSession(client, where, accepted ?? ''));
      });
      client.on('error', (err: Error & { level?: string }) => { fail(classify(err, verdict, where, options)); });
      client.on('close', () => { fail(verdict === null ? new SshUnreachableError(`${where}: the connection closed before the SSH session was ready`) : classify(new Error('closed'), verdict, where, options)); });
      arm(Math.max(timeoutMs - (Date.now() - started), 1_000));
      client.connect({
        ...(sock === undefined ? { host: options.endpoint.host, port: options.endpoint.port } : { sock }),
        username: options.endpoint.user,
        privateKey: options.privateKey,
        hostVerifier: verify,
        readyTimeout: 0, // the deadline above, which pauses while a person confirms the host key
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
      });
    });
  }

  /** Runs `command` through the login shell; resolves with its exit code (-1 when killed by a signal) and output. */
  exec(command: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          reject(new OperationFailedError('ssh-exec-failed', `${this.where}: could not run a command: ${err.message}`, { cause: err }));
          return;
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code = -1;
        channel.on('data', (b: Buffer) => out.push(b));
        channel.stderr.on('data', (b: Buffer) => errOut.push(b));
        channel.on('exit', (c: number | null) => { code = c ?? -1; });
        channel.on('close', () => { resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') }); });
      });
    });
  }

  /** Writes a local file's or a buffer's bytes to `remotePath` over SFTP, then sets `mode`. */
  async upload(source: string | Uint8Array, remotePath: string, mode: number): Promise<void> {
    const sftp = await this.#openSftp();
    const call = (what: string, run: (done: (err?: Error | null) => void) => void) => new Promise<void>((resolve, reject) => {
      run((err) => { if (err) reject(new OperationFailedError('ssh-upload-failed', `${this.where}: ${what} ${remotePath}: ${err.message}`, { cause: err })); else resolve(); });
    });
    if (typeof source === 'string') await call('cannot upload to', (done) => { sftp.fastPut(source, remotePath, { mode }, done); });
    else await call('cannot write', (done) => { sftp.writeFile(remotePath, Buffer.from(source), { mode }, done); });
    await call('cannot chmod', (done) => { sftp.chmod(remotePath, mode, done); });
  }

  /** Ends the session. Idempotent; never throws. */
  close(): void {
    this.client.end();
  }

  #openSftp(): Promise<SFTPWrapper> {
    this.#sftp ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) reject(new OperationFailedError('ssh-sftp-failed', `${this.where}: no SFTP (is the sftp subsystem enabled in sshd_config?): ${err.message}`, { cause: err }));
        else resolve(sftp);
      });
    });
    return this.#sftp;
  }
}

/** The connected socket to the host through the SOCKS proxy; the proxy resolves the name. */
async function viaSocks(socks: HostPort, endpoint: SshEndpoint, where: string, timeoutMs: number): Promise<Socket> {
  try {
    return await dialSocks(socks, { host: endpoint.host, port: endpoint.port }, timeoutMs);
  } catch (err) {
    if (!(err instanceof TunnelError)) throw err;
    throw new SshUnreachableError(`${where}: not reachable through the SOCKS proxy ${socks.host}:${socks.port}: ${err.message}`, { cause: err, hint: err.hint ?? 'is tor running with this SocksPort (--socks)?' });
  }
}

function classify(err: Error & { level?: string; code?: unknown }, verdict: Verdict | null, where: string, options: SshConnectOptions): Error {
  if (verdict?.kind === 'mismatch') return new HostKeyMismatchError(where, options.hostKey ?? '', verdict.actual);
  if (verdict?.kind === 'unpinned') {
    return new InvalidInputError([{ source: '--host-key', message: `not given, and ${where} presents the unpinned host key ${verdict.actual} (${verdict.type})` }], {
      hint: `check it on the device (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then re-run with --host-key ${verdict.actual}`,
    });
  }
  if (verdict?.kind === 'declined') return new InvalidInputError([{ source: '--host-key', message: `the host key ${verdict.actual} of ${where} was not accepted; nothing was changed` }]);
  if (err.level === 'client-authentication') return new SshAuthError(`${where}: the device refused the SSH key for user ${options.endpoint.user}`, { cause: err });
  if (err.level === 'client-socket' || err.level === 'client-dns' || err.level === 'client-timeout') {
    return new SshUnreachableError(`${where}: cannot connect (${typeof err.code === 'string' ? err.code : err.message})`, { cause: err });
  }
  return new OperationFailedError('ssh-failed', `${where}: SSH failed: ${err.message}`, { cause: err });
}
