/**
 * What a `serve` killed without a chance to clean up (SIGKILL, a crash, the laptop's power) leaves
 * behind: its nats-server and its tor go on running, and their runtime files still name them. The
 * next `serve` stops exactly those processes — each checked to be that program with this state's
 * config, never a stranger that reused the pid — and starts afresh.
 */
import { readFile, rm } from 'node:fs/promises';
import { z } from 'zod';
import { pollUntil } from '#shared/async/poll.ts';
import { pidAlive } from '#shared/os/live-process.ts';
import type { StatePaths } from '../state/paths.ts';

const Runtime = z.object({ pid: z.int().min(1), servePid: z.int().optional() });

/** Stops what a dead serve left running; returns one line per process stopped (for stderr). */
export async function stopLeftBehind(paths: StatePaths): Promise<string[]> {
  const lines: string[] = [];
  for (const [name, file, config] of [['nats-server', paths.natsRuntime, paths.natsConfig], ['tor', paths.torRuntime, paths.torrc]] as const) {
    const runtime = await readRuntimeFile(file);
    if (runtime === null) continue;
    // A live serve owns them; one from before servePid was recorded is judged by its process alone.
    if (runtime.servePid !== undefined && pidAlive(runtime.servePid)) continue;
    if (pidAlive(runtime.pid) && (await runs(runtime.pid, name, config))) {
      if (runtime.servePid === undefined) continue;
      await stop(runtime.pid);
      lines.push(`stopped the ${name} (pid ${runtime.pid}) that a serve killed earlier left running`);
    }
    await rm(file, { force: true });
  }
  return lines;
}

async function readRuntimeFile(file: string): Promise<z.infer<typeof Runtime> | null> {
  try {
    return Runtime.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch {
    return null;
  }
}

/** True when `pid` is `program` started with `config` (from /proc/<pid>/cmdline). */
async function runs(pid: number, program: string, config: string): Promise<boolean> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  return (argv[0] ?? '').endsWith(program) && argv.includes(config);
}

async function stop(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const gone = await pollUntil(() => (pidAlive(pid) ? null : true), { timeoutMs: 10_000, intervalMs: 50 });
  if (gone === null && pidAlive(pid)) process.kill(pid, 'SIGKILL');
}
