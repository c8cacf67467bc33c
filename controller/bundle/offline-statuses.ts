/**
 * Bundles of an offline fleet (`apply --offline`): the placement the controller recorded in its
 * offline store, and the devices' statuses from sealed files they wrote (`onionfleet-agent
 * seal-status --out <device>.status.age`) and an operator carried back — each opened with the
 * controller's key and checked against its device's own signing key, as on the bus.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { appliedPlacement } from '../apply/publish.ts';
import { fileStore } from '../apply/store.ts';
import { listDevices } from '../state/devices.ts';
import type { ControllerIdentity } from '../state/identity.ts';
import type { ControllerSecrets } from '../state/keys.ts';
import type { StatePaths } from '../state/paths.ts';
import { openStatus, type DeviceView } from '../status/view.ts';
import { serversOf, type GroupServer } from './export.ts';

/** The file a device's sealed status is read from in `dir`. */
export const statusFileName = (device: string): string => `${device}.status.age`;

export async function offlineGroupServers(paths: StatePaths, keys: { secrets: ControllerSecrets; identity: ControllerIdentity }, dir: string, group: string): Promise<GroupServer[]> {
  const own = fileStore(join(paths.dir, 'offline'));
  const applied = await appliedPlacement({ own, desired: own, identity: keys.identity, secrets: keys.secrets });
  if (applied === null) throw new OperationFailedError('nothing-applied', 'nothing has been applied offline yet: no servers to put in a bundle', { hint: 'run `onionfleet apply -f FILE --offline --out DIR` first' });
  const placed = applied.placements.filter((p) => p.group === group).sort((a, b) => (a.instance < b.instance ? -1 : 1));
  if (placed.length === 0) throw new OperationFailedError('group-not-applied', `group "${group}" has no placed instances`, { hint: 'apply the fleet.yaml that holds the group' });
  const opener = { secrets: keys.secrets };
  const views = new Map<string, DeviceView>();
  for (const record of await listDevices(paths)) {
    const sealed = await readFile(join(dir, statusFileName(record.device))).catch(() => null);
    views.set(record.device, sealed === null ? { device: record.device, status: null, problem: `no ${statusFileName(record.device)} in ${dir}` } : await openStatus(opener, record, new Uint8Array(sealed)));
  }
  return serversOf(group, placed, views);
}
