/**
 * The controller's tor while `onionfleet serve --tor` runs: where its SOCKS port is (probes, SSH to the
 * devices' onions) and how other commands make it re-read the onion's client list (`device revoke`).
 */
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { OperationFailedError } from '../../shared/errors.ts';
import type { StatePaths } from '../state/paths.ts';

export const TorRuntime = z.object({ pid: z.int(), socksPort: z.int(), controlPort: z.int(), noticeLog: z.string() });
export type TorRuntime = z.infer<typeof TorRuntime>;

/** The running controller tor, or null (no file, or a dead pid). */
export async function readTorRuntime(paths: StatePaths): Promise<TorRuntime | null> {
  try {
    const runtime = TorRuntime.parse(JSON.parse(await readFile(paths.torRuntime, 'utf8')));
    process.kill(runtime.pid, 0);
    return runtime;
  } catch {
    return null;
  }
}

const RELOADED = /Received reload signal \(hup\)/;
const RELOAD_DEADLINE_MS = 15_000;

/**
 * SIGHUP to the controller's tor; resolves true once its notice log shows the reload (the changed
 * authorized_clients are in force), false when no controller tor runs. Throws OperationFailedError
 * `tor-reload-failed` when tor does not confirm in time.
 */
export async function reloadControllerTor(paths: StatePaths): Promise<boolean> {
  const runtime = await readTorRuntime(paths);
  if (runtime === null) return false;
  const from = (await stat(runtime.noticeLog).catch(() => null))?.size ?? 0;
  process.kill(runtime.pid, 'SIGHUP');
  const deadline = Date.now() + RELOAD_DEADLINE_MS;
  while (Date.now() < deadline) {
    const log = await readFile(runtime.noticeLog).catch(() => Buffer.alloc(0));
    if (RELOADED.test(log.subarray(from).toString())) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new OperationFailedError('tor-reload-failed', `the controller's tor did not confirm the reload within ${RELOAD_DEADLINE_MS / 1000}s (see ${runtime.noticeLog})`);
}
