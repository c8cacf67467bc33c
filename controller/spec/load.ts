import { readFile } from 'node:fs/promises';
import { InvalidInputError, OperationFailedError } from '../../shared/errors.ts';
import type { FleetSpec } from '../../shared/schema/fleet-spec.ts';
import { parseFleetSpec } from './parse.ts';

/**
 * Reads and checks a fleet.yaml. Throws {@link InvalidInputError} (exit 2) listing every problem,
 * or {@link OperationFailedError} when the file cannot be read. Writes nothing.
 */
export async function loadFleetSpec(path: string): Promise<FleetSpec> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'permission denied';
      throw new InvalidInputError([{ source: path, message: why }], { cause: err });
    }
    throw new OperationFailedError('read-failed', `${path}: cannot read`, { cause: err });
  }
  const result = parseFleetSpec(bytes, path);
  if (!result.ok) throw new InvalidInputError(result.problems);
  return result.spec;
}
