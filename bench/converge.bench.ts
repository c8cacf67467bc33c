/**
 * Control-plane benchmark (issue 4): 200 agents (4 worker processes of 50, no-op reconciler) on a
 * loopback nats-server converge after one apply. Reports the time from the start of the apply until
 * every device reports its new revision, the bytes per agent for that apply, and the steady-state
 * bytes per agent per minute (one sealed status per heartbeat of 30 s). Target: ≤ 5,000 ms.
 */
import { publish } from '../controller/apply/publish.ts';
import { kvStore } from '../controller/apply/store.ts';
import { waitForConvergence } from '../controller/status/wait.ts';
import { listDevices } from '../controller/state/devices.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { simulatedFleet } from './simulated-agents.ts';

const AGENTS = 200;
const WORKERS = 4;
const HEARTBEAT_S = 30;

export async function converge(): Promise<Record<string, unknown>[]> {
  const fleet = await simulatedFleet(AGENTS, WORKERS);
  const { paths, session } = fleet;
  let stopped = false;
  try {
    const spec = FleetSpec.parse({
      version: 1, fleet: 'bench',
      operators: [{ id: 'op' }],
      devices: fleet.devices.map((id) => ({ id, operator: 'op', location: `${id}-site`, jurisdiction: 'DE' })),
      groups: Array.from({ length: 20 }, (_, g) => ({ id: `g${g}`, tier: 'standard', smp: 10, xftp: 0, members: ['m'] })),
      members: [{ id: 'm', passphrase: true }],
    });
    const t0 = performance.now();
    const result = await publish({ own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets }, spec, await listDevices(paths));
    const waited = await waitForConvergence(session, await listDevices(paths), result.revisions, 60_000);
    const ms = performance.now() - t0;
    stopped = true;
    const { bytesIn, bytesOut } = await fleet.stop();
    return [{
      agents: AGENTS,
      converged: waited.pending.length === 0,
      ms: Math.round(ms),
      bytesPerAgent: Math.round((bytesIn + bytesOut) / AGENTS),
      steadyBytesPerAgentPerMinute: Math.round((bytesOut / AGENTS) * (60 / HEARTBEAT_S)),
    }];
  } finally {
    if (!stopped) await fleet.stop();
  }
}
