/**
 * Which SOCKS proxy `probe` uses: `--socks HOST:PORT`, else the controller's own tor (the runtime
 * file `serve --tor` writes while it runs), else the system tor on 127.0.0.1:9050.
 */
import { InvalidInputError } from '#shared/errors.ts';
import { parseSocksAddress, type SocksAddress } from '#shared/probes/over-socks.ts';
import type { StatePaths } from '../state/paths.ts';
import { readTorRuntime } from '../tor/runtime.ts';

/** The system tor's default SocksPort. */
export const SYSTEM_TOR_SOCKS: SocksAddress = { host: '127.0.0.1', port: 9050 };

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
