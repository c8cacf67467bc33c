/**
 * What `metrics` and `ui` both start with: the fleet.yaml, the alert rules (or their defaults),
 * the controller's session on the bus, a logger on stderr, and a {@link FleetMonitor} over them.
 */
import { z } from 'zod';
import { wholeNumber } from '#shared/cli/flag-types.ts';
import { processOutput } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { createLogger, lineStream, type Logger } from '#shared/log.ts';
import { openSession, type ControllerSession } from '../bus/session.ts';
import { loadAlertRules } from '../alerts/load-rules.ts';
import { DEFAULT_ALERT_RULES, type AlertRules } from '../alerts/rules.ts';
import { loadFleetSpec } from '../spec/load.ts';
import { listDevices } from '../state/devices.ts';
import { stateDir, statePaths } from '../state/paths.ts';
import { statePassphrase } from '../cli/passphrase.ts';
import { FleetMonitor } from './monitor.ts';

/** The flags both verbs share; `port` defaults per verb. */
export const MonitorFlags = (defaultPort: number) => z.object({
  file: z.string(),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  port: wholeNumber(0, 65535, 'a TCP port').default(defaultPort),
  alerts: z.string().optional(),
  json: z.boolean().default(false),
});

export interface OpenedMonitor {
  readonly spec: FleetSpec;
  readonly rules: AlertRules;
  readonly session: ControllerSession;
  readonly logger: Logger;
  readonly monitor: FleetMonitor;
}

/** Reads the inputs (exit 2 on a bad file) before connecting (exit 4 when `serve` is not running). */
export async function openMonitor(flags: z.infer<ReturnType<typeof MonitorFlags>>, ctx: CliContext, name: string, deliver: boolean): Promise<OpenedMonitor> {
  const spec = await loadFleetSpec(flags.file);
  const rules = flags.alerts === undefined ? DEFAULT_ALERT_RULES : await loadAlertRules(flags.alerts);
  const paths = statePaths(stateDir(flags.state));
  const logger = createLogger({ name, stream: ctx.output === processOutput ? process.stderr : lineStream(ctx.output.err) });
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  const monitor = new FleetMonitor({
    session, stateDir: paths.dir, spec, rules, devices: () => listDevices(paths), deliver,
    log: { info: (l) => { if (deliver) logger.info(l); }, warn: (l) => { logger.warn(l); } },
  });
  return { spec, rules, session, logger, monitor };
}
