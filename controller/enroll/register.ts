/** Registering a device from its enrollment record: checks, saves, and opens the bus to it. */
import { InvalidInputError } from '#shared/errors.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { listDevices, saveDevice } from '../state/devices.ts';
import type { StatePaths } from '../state/paths.ts';
import { syncAccess, type AccessSync } from './access.ts';

/**
 * Saves `record` and syncs access. Throws InvalidInputError (exit 2, naming `source`) when one of its
 * keys already belongs to another device; re-registering the same device with the same keys is a no-op.
 */
export async function registerDevice(paths: StatePaths, record: EnrollmentRecord, source: string): Promise<AccessSync> {
  const others = (await listDevices(paths)).filter((d) => d.device !== record.device);
  const clash = others.find((d) => d.natsUser === record.natsUser || d.signingKey === record.signingKey || d.ageRecipient === record.ageRecipient || d.onionClientKey === record.onionClientKey);
  if (clash !== undefined) throw new InvalidInputError([{ source, message: `its keys are already registered for device "${clash.device}"` }]);
  await saveDevice(paths, record);
  return syncAccess(paths);
}
