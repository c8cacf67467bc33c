/**
 * Keeps the NATS server's users in step with the registered devices and the live join tokens:
 * renders the config from the state and, when `onionfleet serve` runs, makes the server reload it
 * (removed users — a used or expired token's — are cut off).
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { OperationFailedError } from '#shared/errors.ts';
import { pidAlive, readLiveRuntime } from '#shared/os/live-process.ts';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { listDevices } from '../state/devices.ts';
import { loadIdentity } from '../state/identity.ts';
import type { StatePaths } from '../state/paths.ts';
import { liveTokens } from '../state/tokens.ts';
import { renderNatsConfig } from './config.ts';
import { pollUntil } from '#shared/async/poll.ts';

/** What `serve` leaves for other commands while it runs: its server's url and pid, and its own pid. */
export const NatsRuntime = z.object({ url: z.string(), port: z.int(), pid: z.int(), servePid: z.int().optional() });
export type NatsRuntime = z.infer<typeof NatsRuntime>;

/**
 * Where `serve` says its server runs; null when it does not: no file, a dead server, or a `serve`
 * that is gone (killed before it could stop its server: see left-behind.ts).
 */
export async function readRuntime(paths: StatePaths): Promise<NatsRuntime | null> {
  const runtime = await readLiveRuntime(paths.natsRuntime, NatsRuntime);
  return runtime !== null && (runtime.servePid === undefined || pidAlive(runtime.servePid)) ? runtime : null;
}

/**
 * Renders the config for `port` (devices, the tokens live now, and the gateway user of the running
 * `serve`, if any); returns its text.
 */
export async function writeNatsConfig(paths: StatePaths, port: number): Promise<string> {
  const identity = await loadIdentity(paths);
  const agents = (await listDevices(paths)).map((d) => ({ device: d.device, natsUser: d.natsUser }));
  const joiners = (await liveTokens(paths, new Date())).map((t) => ({ token: t.id, natsUser: t.natsUser }));
  const gatewayUser = (await readFile(paths.natsGatewayUser, 'utf8').catch(() => null))?.trim();
  await mkdir(paths.natsStore, { recursive: true, mode: 0o700 });
  const text = renderNatsConfig({ port, storeDir: paths.natsStore, controllerUser: identity.natsUser, agents, joiners, ...(gatewayUser === undefined ? {} : { gatewayUser }) });
  await writeFileAtomic(paths.natsConfig, text, { mode: 0o600 });
  return text;
}

const RELOAD_DEADLINE_MS = 15_000;

/**
 * Re-renders and reloads a running server, returning once its log confirms the reload (so a device
 * added now can connect now); false when no server runs (the next `serve` reads the devices).
 */
export async function syncNatsUsers(paths: StatePaths): Promise<boolean> {
  const runtime = await readRuntime(paths);
  if (runtime === null) return false;
  await writeNatsConfig(paths, runtime.port);
  const logSize = (await stat(paths.natsLog).catch(() => null))?.size ?? 0;
  process.kill(runtime.pid, 'SIGHUP');
  const confirmed = await pollUntil(async () => {
    const fresh = (await readFile(paths.natsLog).catch(() => Buffer.alloc(0))).subarray(logSize).toString();
    const failed = /Failed to reload server configuration: (.*)/.exec(fresh);
    if (failed) throw new OperationFailedError('nats-reload-failed', `nats-server refused the new users: ${failed[1] ?? ''}`);
    return /Reloaded server configuration/.test(fresh) ? true : null;
  }, { timeoutMs: RELOAD_DEADLINE_MS });
  if (confirmed !== null) return true;
  throw new OperationFailedError('nats-reload-failed', `nats-server did not confirm the reload within ${RELOAD_DEADLINE_MS / 1000}s (see ${paths.natsLog})`);
}
