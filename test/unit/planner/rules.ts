/**
 * An independent checker of the tier rules (docs/reference/fleet-yaml.md) over a finished placement, for tests: it does not
 * reuse the planner's code paths, so a planner bug cannot hide behind the same bug here.
 */
import type { Placement } from '../../../controller/planner/index.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';

export function violations(spec: FleetSpec, placement: readonly Placement[]): string[] {
  const out: string[] = [];
  const devices = new Map(spec.devices.map((d) => [d.id, d]));
  const byDevice = new Map<string, Placement[]>();
  for (const p of placement) byDevice.set(p.device, [...(byDevice.get(p.device) ?? []), p]);

  for (const [id, ps] of byDevice) {
    const d = devices.get(id);
    if (d === undefined) { out.push(`${id}: unknown device`); continue; }
    if (d.state !== 'active') out.push(`${id}: ${d.state} device holds instances`);
    if (ps.length > d.capacity.maxInstances) out.push(`${id}: ${ps.length} > maxInstances ${d.capacity.maxInstances}`);
    const mem = 300 + ps.reduce((m, p) => m + (p.kind === 'smp' ? 45 : 60), 0);
    if (ps.length > 0 && mem > d.capacity.memoryMb) out.push(`${id}: memory ${mem} > ${d.capacity.memoryMb}`);
  }
  for (const g of spec.groups) {
    const mine = placement.filter((p) => p.group === g.id);
    const smp = mine.filter((p) => p.kind === 'smp');
    const xftp = mine.filter((p) => p.kind === 'xftp');
    const n = g.smp;
    if (smp.length !== n) out.push(`${g.id}: ${smp.length} SMP placed, want ${n}`);
    if (xftp.length !== g.xftp) out.push(`${g.id}: ${xftp.length} XFTP placed, want ${g.xftp}`);
    const ids = new Set(mine.map((p) => p.instance));
    if (ids.size !== mine.length) out.push(`${g.id}: duplicate instance ids`);
    for (let i = 1; i <= n; i++) if (!ids.has(`${g.id}-smp-${String(i).padStart(2, '0')}`)) out.push(`${g.id}: missing smp ${i}`);
    const count = (key: (p: Placement) => string) => {
      const m = new Map<string, number>();
      for (const p of smp) m.set(key(p), (m.get(key(p)) ?? 0) + 1);
      return m;
    };
    const ops = count((p) => p.operator);
    const locs = count((p) => p.location);
    const jurs = count((p) => p.jurisdiction);
    const devs = count((p) => p.device);
    const [minOps, minLocs, minJurs, maxOp, maxDev, apart, dedicated] =
      g.tier === 'high' ? [2, 2, 1, Math.ceil(n / 2), Math.ceil(n / 2), true, true]
      : g.tier === 'extreme' ? [3, 3, 3, Math.ceil(n / 3), Math.ceil(n / 4), true, true]
      : [1, 1, 1, n, n, false, g.dedicated];
    if (ops.size < minOps) out.push(`${g.id}: ${ops.size} operators < ${minOps}`);
    if (locs.size < minLocs) out.push(`${g.id}: ${locs.size} locations < ${minLocs}`);
    if (jurs.size < minJurs) out.push(`${g.id}: ${jurs.size} jurisdictions < ${minJurs}`);
    for (const [op, c] of ops) if (c > maxOp) out.push(`${g.id}: operator ${op} holds ${c} > ${maxOp}`);
    for (const [dev, c] of devs) if (c > maxDev) out.push(`${g.id}: device ${dev} holds ${c} > ${maxDev}`);
    if (apart) for (const x of xftp) if (devs.has(x.device)) out.push(`${g.id}: XFTP ${x.instance} on an SMP device`);
    if (dedicated) {
      for (const dev of new Set(mine.map((p) => p.device))) {
        const others = (byDevice.get(dev) ?? []).filter((p) => p.group !== g.id);
        if (others.length > 0) out.push(`${g.id}: dedicated device ${dev} also hosts ${others[0]?.group}`);
      }
    }
  }
  return out;
}
