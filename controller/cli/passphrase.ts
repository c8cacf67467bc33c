/**
 * The passphrase of the controller's state: `--passphrase-file F` (its first line), else
 * $ONIONFLEET_PASSPHRASE, else — when the state has one and stdin is a terminal — asked for without
 * echo. Never on a command line, never in a log.
 */
import { canPrompt, promptHidden } from '#shared/cli/prompt.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import type { StatePaths } from '../state/paths.ts';
import { hasPassphrase } from '../state/secret-files.ts';

/** The passphrase from a file (first line) or $ONIONFLEET_PASSPHRASE; null when neither is given. Exit 2 for an unreadable file. */
export async function givenPassphrase(file: string | undefined): Promise<string | null> {
  if (file !== undefined) {
    const bytes = await readCapped(file, 64 * 1024).catch((err: unknown) => {
      if (err instanceof InvalidInputError) throw err;
      throw new InvalidInputError([{ source: file, message: 'cannot read the passphrase file' }], { cause: err });
    });
    return new TextDecoder().decode(bytes).split('\n')[0] ?? '';
  }
  return process.env.ONIONFLEET_PASSPHRASE ?? null;
}

/** The passphrase to open the state at `paths`: given, else asked for on a terminal when the state has one; else null. */
export async function statePassphrase(paths: StatePaths, file: string | undefined): Promise<string | null> {
  const given = await givenPassphrase(file);
  if (given !== null || !canPrompt() || !(await hasPassphrase(paths))) return given;
  return promptHidden(`passphrase of ${paths.dir}: `);
}
