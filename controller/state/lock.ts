/**
 * One writer at a time for the state's shared files (the NATS users, the onion's client list): an
 * exclusive lock file holding the owner's pid. Two commands that sync access at once (`token create`
 * while `serve` answers a join) would otherwise write the NATS config in the wrong order and lose a
 * change. A lock whose pid is gone is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { pidAlive } from '#shared/os/live-process.ts';
import type { StatePaths } from './paths.ts';
import { pollUntil } from '#shared/async/poll.ts';

const RETRY_MS = 25;

/**
 * Runs `task` holding `state/<name>.lock`. Throws OperationFailedError `state-locked` when another
 * live process holds it for longer than `timeoutMs`.
 */
export async function withStateLock<T>(paths: Pick<StatePaths, 'dir'>, name: string, task: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const file = join(paths.dir, `${name}.lock`);
  let owner = 0;
  const taken = await pollUntil(async () => {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      // A lock left by a process that died is taken over at once.
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) await rm(file, { force: true });
      return null;
    }
  }, { timeoutMs, intervalMs: RETRY_MS });
  if (taken === null) throw new OperationFailedError('state-locked', `${file} is held by pid ${owner || '?'}`, { hint: 'another onionfleet command is changing the state; try again when it is done' });
  try {
    return await task();
  } finally {
    await rm(file, { force: true });
  }
}
