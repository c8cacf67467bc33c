/**
 * The controller's tor while `onionfleet serve --tor` runs: where its SOCKS port is (probes, SSH to the
 * devices' onions) and how other commands make it re-read the onion's client list (`device revoke`).
 */
import { readLiveRuntime } from '#shared/os/live-process.ts';
import { z } from 'zod';
import { OperationFailedError } from '#shared/errors.ts';
import type { StatePaths } from '../state/paths.ts';
import { TorControl } from './control-port.ts';

export const TorRuntime = z.object({
  pid: z.int().min(1),
  socksPort: z.int().min(1).max(65535),
  controlPort: z.int().min(1).max(65535),
  /** For messages: where to look when tor misbehaves. */
  noticeLog: z.string().optional(),
  /** The `serve` that runs it. */
  servePid: z.int().optional(),
});
export type TorRuntime = z.infer<typeof TorRuntime>;

/** The running controller tor, or null (no file, or a dead pid). */
export function readTorRuntime(paths: Pick<StatePaths, 'torRuntime'>): Promise<TorRuntime | null> {
  return readLiveRuntime(paths.torRuntime, TorRuntime);
}

/**
 * Makes the controller's tor re-read its configuration (and with it the onion's authorized_clients)
 * through its control port, and resolves true once tor reports `650 SIGNAL RELOAD` — emitted only
 * after the new configuration is in force; false when no controller tor runs. Throws
 * OperationFailedError (`tor-control-*`, or the wait's timeout) when tor does not confirm.
 */
export async function reloadControllerTor(paths: StatePaths): Promise<boolean> {
  const runtime = await readTorRuntime(paths);
  if (runtime === null) return false;
  const control = await TorControl.connect(runtime.controlPort);
  try {
    await control.reloadConfig(15_000);
  } catch (err) {
    throw new OperationFailedError('tor-reload-failed', `the controller's tor did not confirm the reload${runtime.noticeLog === undefined ? '' : ` (see ${runtime.noticeLog})`}`, { cause: err });
  } finally {
    control.close();
  }
  return true;
}
