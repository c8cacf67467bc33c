/**
 * `state/pins.json`: the fingerprint each instance had when the controller first saw it at its
 * onion. A secret file (it holds onion addresses): mode 0600, sealed when the state has a passphrase.
 */
import { join } from 'node:path';
import { parseJsonText } from '#shared/fs/load-json.ts';
import type { StatePaths } from '../state/paths.ts';
import { readSecret, writeSecret, type SecretKeys } from '../state/secret-files.ts';
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
export async function loadPins(paths: StatePaths, keys: SecretKeys): Promise<PinsFile> {
  const path = pinsPath(paths);
  const bytes = await readSecret(paths, path, keys);
  if (bytes === null) return NO_PINS;
  return parseJsonText(new TextDecoder().decode(bytes), path, PinsFile, 'a pins file');
}

/** Writes the pins atomically (0600, sealed with a passphrase). Throws on I/O failure; the old file then stays as it was. */
export async function savePins(paths: StatePaths, pins: PinsFile): Promise<void> {
  await writeSecret(paths, pinsPath(paths), `${JSON.stringify(pins, null, 2)}\n`);
}
