/**
 * The controller's view loop for `onionfleet metrics` (and `ui`): reads every device's status from
 * the bus, builds a snapshot, evaluates the alert rules, delivers what fired or cleared, and keeps
 * the alert state on disk. One round at a time; failed deliveries are retried on the next rounds
 * (at most {@link MAX_QUEUED} kept).
 */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { ControllerSession } from '../bus/session.ts';
import { deliver, channelName } from '../alerts/deliver.ts';
import { evaluateAlerts, type AlertEvent, type AlertState, type RolloutView } from '../alerts/evaluate.ts';
import type { AlertRules } from '../alerts/rules.ts';
import { readAlertState, readRollouts, writeAlertState } from '../alerts/state-file.ts';
import { readReports } from '../observe/read.ts';
import { buildSnapshot, type FleetSnapshot } from '../observe/snapshot.ts';
import { fleetExposition } from './exposition.ts';

const MAX_QUEUED = 200;

export interface MonitorOptions {
  readonly session: ControllerSession;
  readonly stateDir: string;
  readonly spec: FleetSpec;
  readonly rules: AlertRules;
  /** Enrolled devices, read again each round (a device added meanwhile appears). */
  readonly devices: () => Promise<EnrollmentRecord[]>;
  readonly log: { info(line: string): void; warn(line: string): void };
  /**
   * Deliver events and save the state (`metrics`). False (`ui`): evaluate in memory only, starting
   * from the state `metrics` saved, so the page shows the alerts without sending or changing anything.
   */
  readonly deliver: boolean;
}

export class FleetMonitor {
  private state: AlertState | null = null;
  private queue: { event: AlertEvent; channel: number }[] = [];

  constructor(private readonly o: MonitorOptions) {}

  /** A fresh snapshot of the fleet (devices silent beyond the rule's threshold count as not reporting). */
  async snapshot(): Promise<FleetSnapshot> {
    const reports = await readReports(this.o.session, await this.o.devices());
    return buildSnapshot(this.o.spec, reports, Date.now(), this.o.rules.rules.deviceSilent.afterSeconds);
  }

  /** The alert state as last evaluated (before the first round: as `metrics` saved it). */
  async alerts(): Promise<AlertState> {
    return this.state ?? await readAlertState(this.o.stateDir);
  }

  /** `/metrics`: a fresh snapshot with the alerts that fire. */
  async exposition(): Promise<string> {
    const snapshot = await this.snapshot();
    const firing = Object.values((await this.alerts()).active).filter((a) => a.firing).map((a) => ({ rule: a.rule, subject: a.subject }));
    return fleetExposition(snapshot, firing);
  }

  /** One evaluation round: snapshot, rules, deliveries (new events, then the retries), state saved. */
  async round(): Promise<{ snapshot: FleetSnapshot; events: AlertEvent[]; rollouts: RolloutView[] }> {
    this.state ??= await readAlertState(this.o.stateDir);
    const snapshot = await this.snapshot();
    const rollouts = await readRollouts(this.o.stateDir);
    const { state, events } = evaluateAlerts(this.o.rules, snapshot, rollouts, this.state, snapshot.takenAt);
    this.state = state;
    if (!this.o.deliver) return { snapshot, events, rollouts };
    await writeAlertState(this.o.stateDir, state);
    for (const event of events) {
      this.o.log.info(`alert ${event.status}: ${event.rule} ${event.subject}: ${event.message}`);
      this.o.rules.channels.forEach((_, channel) => this.queue.push({ event, channel }));
    }
    const pending = this.queue.splice(0);
    for (const item of pending) {
      const channel = this.o.rules.channels[item.channel];
      if (channel === undefined) continue;
      try {
        await deliver(channel, item.event);
      } catch (err) {
        this.o.log.warn(`alert not delivered through ${channelName(channel)} (retried next round): ${err instanceof Error ? err.message : String(err)}`);
        this.queue.push(item);
      }
    }
    if (this.queue.length > MAX_QUEUED) this.queue.splice(0, this.queue.length - MAX_QUEUED);
    return { snapshot, events, rollouts };
  }
}
