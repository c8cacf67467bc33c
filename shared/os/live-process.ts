/** Is a process still there, and the runtime files long-running commands leave for others to find them. */
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';

/** True while `pid` exists (also when it belongs to another user: EPERM). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A runtime file (`{"pid": …, …}`) written by a running command, parsed by `schema`; null when the
 * file is missing or malformed, or its process is gone.
 */
export async function readLiveRuntime<S extends z.ZodType<{ pid: number }>>(path: string, schema: S): Promise<z.infer<S> | null> {
  try {
    const runtime = schema.parse(JSON.parse(await readFile(path, 'utf8')));
    return pidAlive(runtime.pid) ? runtime : null;
  } catch {
    return null;
  }
}
