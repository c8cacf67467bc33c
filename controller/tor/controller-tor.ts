/**
 * The controller's own tor for `onionfleet serve --tor`: publishes the NATS port as a v3 onion service
 * with client authorization (only enrolled devices, open join tokens and the admin hold a key) and
 * the onion DoS defences, and gives the controller a SOCKS port for probes. Its files live in the
 * state's `tor/` directory; `tor/runtime.json` tells other commands how to reach and reload it.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { adminClientPrivateKey, syncOnionClients } from '../enroll/onion-clients.ts';
import { placeNatsOnionKeyForTor, removeNatsOnionKeyForTor } from '../state/nats-onion.ts';
import { hasPassphrase, type SecretKeys } from '../state/secret-files.ts';
import type { StatePaths } from '../state/paths.ts';
import { adminClientAuthDir } from './ssh-onion-keys.ts';
import { optionName } from './torrc.ts';
import { TorProcess } from './tor-process.ts';
import type { TorRuntime } from './runtime.ts';

/** The onion service lines: NATS on 127.0.0.1:`natsPort` behind the NATS onion's port. Exported for tests. */
export function natsOnionLines(onionDir: string, onionPort: number, natsPort: number): string[] {
  return [
    `HiddenServiceDir ${onionDir}`,
    'HiddenServiceVersion 3',
    `HiddenServicePort ${onionPort} 127.0.0.1:${natsPort}`,
    // One long-lived stream per agent: these defences cost the fleet nothing and slow a flood.
    'HiddenServiceEnableIntroDoSDefense 1',
    'HiddenServicePoWDefensesEnabled 1',
  ];
}

/** The lines of a `--tor-config` file (e.g. a private network's DirAuthority lines): comments and blanks dropped. */
export async function readTorConfigLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => optionName(l) !== null);
}

export interface ControllerTorOptions {
  readonly natsPort: number;
  /** Open the NATS onion's key and the admin's client key (secret files of the state). */
  readonly keys: SecretKeys;
  /** Extra torrc lines (a private network's options). */
  readonly extraLines?: readonly string[];
  readonly onProgress?: (line: string) => void;
  /** Like TorProcess's `binary`. */
  readonly binary?: string;
}

/**
 * Starts the controller's tor (not waiting for bootstrap: agents retry until the onion is reachable)
 * and writes the runtime file. The caller stops it with {@link stopControllerTor}, which also takes
 * away the copies of secret keys tor was given (when the state has a passphrase).
 */
export async function startControllerTor(paths: StatePaths, o: ControllerTorOptions): Promise<TorProcess> {
  const onion = await placeNatsOnionKeyForTor(paths, o.keys);
  await adminClientPrivateKey(paths, o.keys); // checks the admin key pair (and writes a lost public half)
  await syncOnionClients(paths);
  // The admin's keys to the devices' SSH onions (kept in step by serve: ssh-onion-keys.ts).
  await mkdir(adminClientAuthDir(paths), { recursive: true, mode: 0o700 });
  const tor = await TorProcess.start({
    name: 'controller',
    dir: paths.tor,
    baseLines: o.extraLines ?? [],
    lines: [...natsOnionLines(paths.natsOnionDir, onion.port, o.natsPort), `ClientOnionAuthDir ${adminClientAuthDir(paths)}`],
    socks: true,
    waitForBootstrap: false,
    ...(o.binary === undefined ? {} : { binary: o.binary }),
    ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
  });
  const runtime: TorRuntime = { pid: tor.pid, socksPort: tor.socksPort ?? 0, controlPort: tor.controlPort, noticeLog: join(paths.tor, 'notice.log'), servePid: process.pid };
  await writeFileAtomic(paths.torRuntime, JSON.stringify(runtime), { mode: 0o600 });
  return tor;
}

export async function stopControllerTor(paths: StatePaths, tor: TorProcess): Promise<void> {
  await rm(paths.torRuntime, { force: true });
  await tor.stop();
  await removeSecretCopies(paths);
}

/**
 * Takes away what tor was given of the state's secrets — the NATS onion's key and the admin's keys
 * to the SSH onions — when the state has a passphrase; `serve --tor` gives them again when it starts.
 */
export async function removeSecretCopies(paths: StatePaths): Promise<void> {
  if (!(await hasPassphrase(paths))) return;
  await removeNatsOnionKeyForTor(paths);
  await rm(adminClientAuthDir(paths), { recursive: true, force: true });
}
