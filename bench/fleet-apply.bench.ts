/**
 * A whole fleet on this machine (issue 12): N simulated Pis — each a real `onionfleet-agent run`
 * process with the built-in supervisor and the SimpleX doubles, 10 SMP + 1 XFTP instances each — behind
 * one `onionfleet serve`. Times a cold `apply --wait` (every instance initialised and started, every
 * device converged and healthy) and a no-op re-apply (nothing changes), at N = 5, 20 and 50
 * (`ONIONFLEET_FLEET_SIZES=5,20` to choose). Memory: the agents' and instances' summed PSS once converged.
 */
import { readdir, readFile } from 'node:fs/promises';
import { FleetHarness, fleetYaml } from '../test/support/fleet-harness.ts';

const SIZES = (process.env.ONIONFLEET_FLEET_SIZES ?? '5,20,50').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
/** Device port bands start low, so 50 devices' instance ports stay below the ephemeral range. */
const FIRST_PORT_OFFSET = 1_000;

export async function fleetApply(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const n of SIZES) rows.push(await one(n));
  return rows;
}

async function one(n: number): Promise<Record<string, unknown>> {
  const h = await FleetHarness.create({ firstPortOffset: FIRST_PORT_OFFSET });
  try {
    await h.startServe();
    const devices = Array.from({ length: n }, (_, i) => ({ id: `pi-${String(i).padStart(2, '0')}`, operator: `op-${i % 5}` }));
    for (const d of devices) await h.enroll(d.id, { heartbeatSeconds: 30 });
    for (const d of devices) h.startAgent(d.id);
    const fleet = h.writeFleet(fleetYaml(devices, devices.map((_, i) => ({ id: `g${i}`, smp: 10, xftp: 1 }))));
    let t0 = performance.now();
    const cold = await h.apply(fleet, '--wait', '--timeout', '900');
    const coldMs = performance.now() - t0;
    if (cold.code !== 0) throw new Error(`cold apply of ${n} devices failed: ${cold.stderr.slice(-2000)}`);
    t0 = performance.now();
    const noop = await h.apply(fleet, '--wait', '--timeout', '300');
    const noopMs = performance.now() - t0;
    if (noop.code !== 0) throw new Error(`no-op apply of ${n} devices failed: ${noop.stderr.slice(-2000)}`);
    return { devices: n, instances: n * 11, coldApplyMs: Math.round(coldMs), noopApplyMs: Math.round(noopMs), pssMb: await fleetPssMb(h) };
  } finally {
    await h.stop();
  }
}

/** The summed PSS (MiB) of every agent and every instance process of the fleet. */
async function fleetPssMb(h: FleetHarness): Promise<number> {
  const pids: number[] = [];
  for (const d of h.devices.values()) {
    if (d.agent?.pid !== undefined) pids.push(d.agent.pid);
    const runDir = `${d.root}/run/onionfleet`;
    for (const f of await readdir(runDir).catch(() => [])) {
      const record = JSON.parse(await readFile(`${runDir}/${f}`, 'utf8').catch(() => '{}')) as { pid?: number };
      if (record.pid !== undefined) pids.push(record.pid);
    }
  }
  let kb = 0;
  for (const pid of pids) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    kb += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
  }
  return Math.round(kb / 1024);
}
