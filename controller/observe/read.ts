/**
 * Reads every enrolled device's last status from the bus, with the time the bus stored it (the
 * controller's NATS clock, so a device's own clock cannot make it look alive).
 */
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { ControllerSession } from '../bus/session.ts';
import { openStatus } from '../status/view.ts';
import type { DeviceReport } from './snapshot.ts';

export async function readReports(session: ControllerSession, devices: readonly EnrollmentRecord[]): Promise<DeviceReport[]> {
  const reports: DeviceReport[] = [];
  for (const record of devices) {
    const entry = await session.status.get(record.device);
    if (entry === null || entry.operation !== 'PUT') {
      reports.push({ device: record.device, status: null, receivedAt: null, problem: 'no status reported yet' });
      continue;
    }
    const view = await openStatus(session, record, entry.value);
    reports.push({ device: record.device, status: view.status, receivedAt: entry.created.getTime(), problem: view.problem });
  }
  return reports;
}
