/** Runs a CLI's main() in-process with captured output, or the real bin in a child process. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main as controllerMain } from '../../controller/cli/main.ts';

export interface CliRun {
  /** Exit code; -1 when the process was killed by a signal. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `onionfleet …` through main(), in this process. */
export async function onionfleet(...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await controllerMain(['node', 'onionfleet', ...args], {
    out: (t) => (stdout += t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => (stderr += t.endsWith('\n') ? t : `${t}\n`),
  });
  return { code, signal: null, stdout, stderr };
}

export const BIN = {
  onionfleet: fileURLToPath(new URL('../../controller/cli/bin.js', import.meta.url)),
  agent: fileURLToPath(new URL('../../agent/cli/bin.js', import.meta.url)),
};

/** A real child process; resolves when it exits. */
export function runBin(bin: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
}
