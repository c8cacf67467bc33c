/**
 * This process's own children, found in /proc: for stopping what a library is still starting and
 * has not handed over yet (the private Tor network's tors and key tools while `--tor` comes up).
 * Only direct children of this process whose command line names a path below a given directory
 * are ever returned, so nothing else is touched.
 */
import { readdir, readFile } from 'node:fs/promises';

/** A running child process: its pid and command line. */
export interface OwnChild {
  readonly pid: number;
  readonly argv: readonly string[];
}

/** The running (not zombie) children of this process with an argument below `dir` (absolute). Never throws. */
export async function ownChildrenBelow(dir: string): Promise<OwnChild[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: OwnChild[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (stat === null) continue;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' || Number(ppid) !== process.pid) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').filter((a) => a !== '');
    if (argv.some((a) => a.startsWith(prefix))) out.push({ pid: Number(entry), argv });
  }
  return out;
}

/** True while `pid` runs and is not a zombie. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
