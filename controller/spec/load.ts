import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { MAX_SPEC_BYTES, parseFleetSpec } from './parse.ts';

/**
 * Reads and checks a fleet.yaml. Throws {@link InvalidInputError} (exit 2) listing every problem,
 * or {@link OperationFailedError} when the file cannot be read. Writes nothing. Reads at most
 * {@link MAX_SPEC_BYTES} + 1 bytes, so `-f /dev/zero` is refused at the cap.
 */
export async function loadFleetSpec(path: string): Promise<FleetSpec> {
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(path, MAX_SPEC_BYTES);
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
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
