/** A CLI on a pseudo-terminal (util-linux `script`), for prompts that only a terminal gets. */
import { spawn } from 'node:child_process';
import { until } from './processes.ts';

/**
 * Runs `node BIN args` on a pseudo-terminal, types `answer` once `prompt` shows (not before: the
 * terminal would echo what is typed before the program turns echo off), and resolves with its exit
 * code and everything the terminal showed.
 */
export function onTerminal(bin: string, args: readonly string[], prompt: RegExp, answer: string, env: Record<string, string> = {}): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  // No passphrase in the environment: the command must ask.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'ONIONFLEET_PASSPHRASE'));
  const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...inherited, ...env } });
  let screen = '';
  child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
  child.stderr.on('data', (b: Buffer) => (screen += b.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => { resolve(code ?? -1); }));
  return (async () => {
    await until('the prompt', () => (prompt.test(screen) ? true : null), 60_000);
    child.stdin.write(`${answer}\r`);
    const code = await exited;
    return { code, screen };
  })();
}
