/**
 * Files and directories a user names for output (`--out`): written atomically like every file, and
 * a path that cannot be written is the user's problem to fix (exit 2 `output-unwritable`, naming the
 * path and why), not an internal error.
 */
import { access, constants, mkdir } from 'node:fs/promises';
import { OperationFailedError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-write.ts';

const WHY: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EEXIST: 'a file is in the way',
};

/** The user's error for a failed write of `path`, or null when `err` is not one a user can fix. */
export function outputError(path: string, err: unknown): OperationFailedError | null {
  const why = WHY[(err as NodeJS.ErrnoException | null)?.code ?? ''];
  return why === undefined ? null : new OperationFailedError('output-unwritable', `${path}: cannot write: ${why}`, { cause: err });
}

/** Writes `data` to `path` atomically (mode `mode`); throws `output-unwritable` (exit 2) when the path cannot be written. */
export async function writeOutputFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    await writeFileAtomic(path, data, { mode });
  } catch (err) {
    throw outputError(path, err) ?? err;
  }
}

/**
 * Makes `dir` (and its parents) for output (mode 0700: outputs here hold secrets) and checks that it
 * can be written, before anything else is done; throws `output-unwritable` (exit 2) when not.
 */
export async function makeOutputDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (err) {
    throw outputError(dir, err) ?? err;
  }
}
