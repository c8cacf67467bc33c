/**
 * Which SOCKS proxy `probe` uses: `--socks HOST:PORT`, else the controller's own tor (the runtime
 * file `serve --tor` writes while it runs), else the system tor on 127.0.0.1:9050.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InvalidInputError } from '../../shared/errors.ts';
import { parseSocksAddress, type SocksAddress } from '../../shared/probes/over-socks.ts';
import type { StatePaths } from '../state/paths.ts';

/** The system tor's default SocksPort. */
export const SYSTEM_TOR_SOCKS: SocksAddress = { host: '127.0.0.1', port: 9050 };

/** `state/tor/runtime.json`, as `serve --tor` writes it (other fields are ignored). */
const TorRuntime = z.object({ pid: z.int().min(1), socksPort: z.int().min(1).max(65535) });

export interface SocksChoice {
  readonly socks: SocksAddress;
  /** Where it came from, for the output: `--socks`, `controller tor`, `system tor`. */
  readonly source: '--socks' | 'controller tor' | 'system tor';
}

/**
 * The proxy to use.
 *
 * @throws {InvalidInputError} when `flag` is not `HOST:PORT`.
 */
export async function chooseSocks(paths: Pick<StatePaths, 'torRuntime'>, flag: string | undefined): Promise<SocksChoice> {
  if (flag !== undefined) {
    const socks = parseSocksAddress(flag);
    if (socks === null) throw new InvalidInputError([{ source: '--socks', message: 'expected HOST:PORT, such as 127.0.0.1:9050' }]);
    return { socks, source: '--socks' };
  }
  const runtime = await readTorRuntime(paths);
  return runtime === null ? { socks: SYSTEM_TOR_SOCKS, source: 'system tor' } : { socks: { host: '127.0.0.1', port: runtime.socksPort }, source: 'controller tor' };
}

/** The controller tor's runtime file when its tor still runs; `null` otherwise (no file, bad file, dead pid). */
async function readTorRuntime(paths: Pick<StatePaths, 'torRuntime'>): Promise<z.infer<typeof TorRuntime> | null> {
  try {
    const runtime = TorRuntime.parse(JSON.parse(await readFile(paths.torRuntime, 'utf8')));
    process.kill(runtime.pid, 0);
    return runtime;
  } catch {
    return null;
  }
}
