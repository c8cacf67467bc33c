/**
 * `state/pins.json`: the fingerprint each instance had when the controller first saw it at its
 * onion. Written atomically, mode 0600 (it holds onion addresses).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../../shared/fs/atomic-write.ts';
import { loadJson } from '../../shared/fs/load-json.ts';
import type { StatePaths } from '../state/paths.ts';
import { NO_PINS, PinsFile } from './model.ts';

/** Where the pins live in a state directory. */
export function pinsPath(paths: Pick<StatePaths, 'dir'>): string {
  return join(paths.dir, 'pins.json');
}

/**
 * The pins; none when the file does not exist yet.
 *
 * @throws {InvalidInputError} (exit 2) when the file exists but is not a pins file.
 */
export async function loadPins(paths: Pick<StatePaths, 'dir'>): Promise<PinsFile> {
  const path = pinsPath(paths);
  if (!existsSync(path)) return NO_PINS;
  return loadJson(path, PinsFile, 'a pins file');
}

/** Writes the pins atomically (0600). Throws on I/O failure; the old file then stays as it was. */
export async function savePins(paths: Pick<StatePaths, 'dir'>, pins: PinsFile): Promise<void> {
  await writeFileAtomic(pinsPath(paths), `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
}
