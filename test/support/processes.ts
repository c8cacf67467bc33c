/** Helpers for tests that start real processes: free ports, deadlines, stopping exactly one pid. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pollUntil } from '#shared/async/poll.ts';
import { freeLoopbackPort } from '#shared/net/free-port.ts';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export const freePort = freeLoopbackPort;


/** Resolves with `check`'s first non-null value; rejects with `what` at the deadline. Polls every 25 ms. */
export async function until<T>(what: string, check: () => Promise<T | null> | T | null, deadlineMs = 15_000): Promise<T> {
  const value = await pollUntil(check, { timeoutMs: deadlineMs, intervalMs: 25 });
  if (value === null) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
  return value;
}

/** True while `pid` runs; a zombie (exited, not yet reaped by an init that may never reap it) is not alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops exactly `pid`: `signal`, then SIGKILL when it has not exited within the deadline. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', deadlineMs = 5000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, signal);
  try {
    await until(`pid ${pid} to exit`, () => (alive(pid) ? null : true), deadlineMs);
  } catch {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** Stops a child this test started. */
export async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  await stopPid(child.pid, signal);
}

/** Stops every process the agent's supervisor started below `root` (by its pid files). */
export async function stopSupervised(root: string): Promise<void> {
  const dir = join(root, 'run/onionfleet');
  for (const file of await readdir(dir).catch(() => [])) {
    if (!file.endsWith('.pid')) continue;
    const { pid } = JSON.parse(await readFile(join(dir, file), 'utf8')) as { pid: number };
    await stopPid(pid, 'SIGINT');
  }
}

/**
 * Resolves once something accepts TCP connections on 127.0.0.1:`port` (deadline `deadlineMs`).
 * A free port is an ephemeral one: while nothing listens, a connect to it may be given that very port
 * as its own and "connect" to itself (TCP simultaneous open), which is not a listener.
 */
export function untilListening(what: string, port: number, deadlineMs = 10_000): Promise<true> {
  return until(what, () => new Promise<true | null>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      const self = s.localPort === port;
      s.destroy();
      resolve(self ? null : true);
    });
    s.once('error', () => { resolve(null); });
  }), deadlineMs);
}

/** Starts the Debian `microsocks` SOCKS5 proxy on a free loopback port (extra args e.g. `-b 127.0.0.2`); resolves once it listens. */
export async function startMicrosocks(...extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port), ...extra], { stdio: 'ignore' });
  await untilListening('microsocks to listen', port);
  return { child, port };
}
