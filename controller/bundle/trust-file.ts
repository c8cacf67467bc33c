/**
 * The member's trust files on disk: the allowed_signers file of trusted fleets (./trusted-signers.ts)
 * and the single pin of earlier versions, read only. Where they are: `$ONIONFLEET_ALLOWED_SIGNERS`,
 * else `~/.config/onionfleet/allowed_signers`; `$ONIONFLEET_PIN_FILE`, else
 * `~/.config/onionfleet/pinned-controller`.
 */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidInputError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import { parseTrustedSigners, renderTrustedSigners, type TrustedSigner } from './trusted-signers.ts';

export interface TrustFiles {
  /** The allowed_signers file `bundle open`, `trust` and `untrust` keep. */
  readonly allowedSigners: string;
  /** The single pin of earlier versions (read, never written). */
  readonly oldPin: string;
}

/** What the member trusts now. */
export interface Trust {
  readonly signers: TrustedSigner[];
  /** The old pin's first line (a key or a fingerprint), or null without one. */
  readonly oldPin: string | null;
}

/** A member's trust store is a few lines; more than this is not one. */
const MAX_BYTES = 1024 * 1024;

/** The paths, from the environment. */
export function trustFiles(env: NodeJS.ProcessEnv = process.env): TrustFiles {
  const dir = join(homedir(), '.config/onionfleet');
  return { allowedSigners: env.ONIONFLEET_ALLOWED_SIGNERS ?? join(dir, 'allowed_signers'), oldPin: env.ONIONFLEET_PIN_FILE ?? join(dir, 'pinned-controller') };
}

/** The text of `file`, or null when it does not exist. @throws {InvalidInputError} when it cannot be read. */
async function readOptional(file: string, what: string): Promise<string | null> {
  try {
    return new TextDecoder().decode(await readCapped(file, MAX_BYTES));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError([{ source: file, message: `cannot read ${what}` }], { cause: err });
  }
}

/**
 * Reads both files (missing ones are empty).
 *
 * @throws {InvalidInputError} naming each line of the allowed_signers file it cannot use.
 */
export async function readTrust(files: TrustFiles): Promise<Trust> {
  const text = await readOptional(files.allowedSigners, 'the trusted controllers');
  const { signers, problems } = parseTrustedSigners(text ?? '', files.allowedSigners);
  if (problems.length > 0) throw new InvalidInputError(problems, { hint: 'fix or delete that line (onionfleet bundle untrust FLEET removes a fleet)' });
  const pin = await readOptional(files.oldPin, 'the pinned controller key');
  const oldPin = pin?.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#')) ?? null;
  return { signers, oldPin };
}

/** Writes the allowed_signers file (0600, atomically; its directory 0700 when new). */
export async function writeTrust(files: TrustFiles, signers: readonly TrustedSigner[]): Promise<void> {
  await mkdir(dirname(files.allowedSigners), { recursive: true, mode: 0o700 });
  await writeFileAtomic(files.allowedSigners, renderTrustedSigners(signers), { mode: 0o600 });
}
